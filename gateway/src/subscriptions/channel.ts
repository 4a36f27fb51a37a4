/** Why a subscriber's stream ended; a metric label and the log line's `reason`. */
export type EndReason =
  | 'complete'
  | 'client'
  | 'error'
  | 'upstream_failed'
  | 'slow_consumer'
  | 'rate_limited'
  | 'token_expired'
  | 'credentials_revoked'
  | 'schema_changed'
  | 'shutdown';

/**
 * A bounded queue from the event loop of one subscription to its subscriber. At most `capacity`
 * results wait; one more ends the stream with `slow_consumer` (never buffered without limit).
 */
export class EventChannel<T> implements AsyncIterableIterator<T> {
  private readonly queue: T[] = [];
  private waiting: ((result: IteratorResult<T>) => void) | undefined;
  private endedWith: EndReason | undefined;
  private readonly endWaiters: ((reason: EndReason) => void)[] = [];
  /** The result that says why the stream ended (not an event). */
  private last: T | undefined;
  /** Results accepted for the subscriber, and events it will never get (too slow, or not paid for). */
  readonly counts = { delivered: 0, dropped: 0 };
  /** Told of every change of `counts` (metrics). */
  onCount: ((kind: 'delivered' | 'dropped', n: number) => void) | undefined;

  count(kind: 'delivered' | 'dropped', n: number): void {
    if (n === 0) return;
    this.counts[kind] += n;
    this.onCount?.(kind, n);
  }

  constructor(
    private readonly capacity: number,
    /** Called once, when the stream ends for any reason (the subscriber returned it, or it was ended). */
    private readonly onEnd: (reason: EndReason) => void,
    /** The last result of a subscriber dropped for being too slow (the error saying why). */
    private readonly slowConsumerResult?: T,
  ) {}

  get ended(): EndReason | undefined {
    return this.endedWith;
  }

  get buffered(): number {
    return this.queue.length;
  }

  /** Resolves with the reason once the stream has ended (at once when it has). */
  whenEnded(): Promise<EndReason> {
    if (this.endedWith) return Promise.resolve(this.endedWith);
    return new Promise((resolve) => this.endWaiters.push(resolve));
  }

  /** Hands a result to the subscriber; false when the stream has ended (or just ended because the buffer was full). */
  push(item: T): boolean {
    if (this.endedWith) return false;
    if (this.waiting) {
      const resolve = this.waiting;
      this.waiting = undefined;
      this.count('delivered', 1);
      resolve({ value: item, done: false });
      return true;
    }
    if (this.queue.length >= this.capacity) {
      this.count('dropped', 1);
      this.end('slow_consumer', this.slowConsumerResult);
      return false;
    }
    this.queue.push(item);
    return true;
  }

  /**
   * Ends the stream: `last` (e.g. an error) is still delivered after what is queued; a consumer too
   * slow loses what is queued and gets `last` alone.
   */
  end(reason: EndReason, last?: T): void {
    if (this.endedWith) return;
    if (reason === 'slow_consumer') {
      // What was waiting never reaches the subscriber.
      this.count('dropped', this.queue.length);
      this.queue.length = 0;
    }
    if (last !== undefined) this.queue.push((this.last = last));
    this.endedWith = reason;
    this.onEnd(reason);
    for (const waiter of this.endWaiters.splice(0)) waiter(reason);
    if (this.waiting && this.queue.length === 0) {
      const resolve = this.waiting;
      this.waiting = undefined;
      resolve({ value: undefined, done: true });
    } else if (this.waiting) {
      const resolve = this.waiting;
      this.waiting = undefined;
      void this.next().then(resolve);
    }
  }

  next(): Promise<IteratorResult<T>> {
    const item = this.queue.shift();
    if (item !== undefined) {
      if (item !== this.last) this.count('delivered', 1);
      return Promise.resolve({ value: item, done: false });
    }
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
