import type { Order } from './data.js';

/** What happened to an order: a new order, or a new status (paid, shipped, delivered, cancelled). */
export type OrderEventKind = 'created' | 'statusChanged';

export interface OrderEvent {
  kind: OrderEventKind;
  /** A snapshot of the order when the event happened (a later change does not rewrite it). */
  order: Order;
}

/** The most events one subscriber may have waiting; beyond it the oldest is dropped (a demo has no slow-consumer policy of its own). */
const MAX_QUEUED = 1000;

/**
 * The orders subgraph's in-process event bus: the store publishes, each subscription reads its own
 * queue through an async iterator that ends when the subscriber returns it (graphql-ws does on
 * `complete` or when the socket closes).
 */
export class OrderEvents {
  private readonly listeners = new Set<(event: OrderEvent) => void>();

  publish(kind: OrderEventKind, order: Order): void {
    const event: OrderEvent = { kind, order: { ...order, items: order.items.map((line) => ({ ...line })) } };
    for (const listener of this.listeners) listener(event);
  }

  get subscriberCount(): number {
    return this.listeners.size;
  }

  /** Every later event that `accept` keeps, in publish order. */
  subscribe(accept: (event: OrderEvent) => boolean): AsyncIterableIterator<OrderEvent> {
    const queue: OrderEvent[] = [];
    let wake: ((result: IteratorResult<OrderEvent>) => void) | undefined;
    let done = false;
    const listener = (event: OrderEvent) => {
      if (done || !accept(event)) return;
      if (wake) {
        const resolve = wake;
        wake = undefined;
        resolve({ value: event, done: false });
        return;
      }
      queue.push(event);
      if (queue.length > MAX_QUEUED) queue.shift();
    };
    this.listeners.add(listener);
    const finish = (): Promise<IteratorResult<OrderEvent>> => {
      done = true;
      this.listeners.delete(listener);
      queue.length = 0;
      wake?.({ value: undefined, done: true });
      wake = undefined;
      return Promise.resolve({ value: undefined, done: true });
    };
    return {
      next: () => {
        const event = queue.shift();
        if (event) return Promise.resolve({ value: event, done: false });
        if (done) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => (wake = resolve));
      },
      return: finish,
      throw: async (error: unknown) => {
        await finish();
        throw error;
      },
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  }
}
