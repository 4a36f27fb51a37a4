/** Why a subscriber's stream ended; a metric label and the log line's `reason`. */
export type EndReason =
  'complete' | 'client' | 'error' | 'upstream_failed' | 'slow_consumer' | 'rate_limited' | 'token_expired' | 'schema_changed' | 'shutdown';

/**
 * A bounded queue from the event loop of one subscription to its subscriber. At most `capacity`
 * results wait; one more ends the stream with `slow_consumer` (never buffered without limit).
 */
export class EventChannel<T> implements AsyncIterableIterator<T> {
  private readonly queue: T[] = [];
  private waiting: ((result: IteratorResult<T>) => void) | undefined;
  private endedWith: EndReason | undefined;

  constructor(
    private readonly capacity: number,
    /** Called once, when the stream ends for any reason (the subscriber returned it, or it was ended). */
    private readonly onEnd: (reason: EndReason) => void,
  ) {}

  get ended(): EndReason | undefined {
    return this.endedWith;
  }

  get buffered(): number {
    return this.queue.length;
  }

  /** Hands a result to the subscriber; false when the stream has ended (or just ended because the buffer was full). */
  push(item: T): boolean {
    if (this.endedWith) return false;
    if (this.waiting) {
      const resolve = this.waiting;
      this.waiting = undefined;
      resolve({ value: item, done: false });
      return true;
    }
    if (this.queue.length >= this.capacity) {
      this.end('slow_consumer');
      return false;
    }
    this.queue.push(item);
    return true;
  }

  /** Ends the stream: `last` (e.g. an error) is still delivered after what is queued, unless the consumer was too slow. */
  end(reason: EndReason, last?: T): void {
    if (this.endedWith) return;
    if (last !== undefined && reason !== 'slow_consumer') this.queue.push(last);
    if (reason === 'slow_consumer') this.queue.length = 0;
    this.endedWith = reason;
    this.onEnd(reason);
    if (this.waiting && this.queue.length === 0) {
      const resolve = this.waiting;
      this.waiting = undefined;
      resolve({ value: undefined, done: true });
    } else if (this.waiting) {
      const resolve = this.waiting;
      this.waiting = undefined;
      resolve({ value: this.queue.shift() as T, done: false });
    }
  }

  next(): Promise<IteratorResult<T>> {
    const item = this.queue.shift();
    if (item !== undefined) return Promise.resolve({ value: item, done: false });
    if (this.endedWith) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => (this.waiting = resolve));
  }

  return(): Promise<IteratorResult<T>> {
    this.end('client');
    this.queue.length = 0;
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }
}
