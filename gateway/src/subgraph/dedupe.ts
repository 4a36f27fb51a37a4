/**
 * In-flight deduplication: concurrent calls with the same key share the first one's promise. The
 * entry is dropped as soon as that promise settles, so nothing is cached beyond the call itself.
 */
export class InFlight<T> {
  private readonly calls = new Map<string, Promise<T>>();

  get size(): number {
    return this.calls.size;
  }

  /** `shared` is true when the promise belongs to a call that was already in flight. */
  run(key: string, call: () => Promise<T>): { promise: Promise<T>; shared: boolean } {
    const existing = this.calls.get(key);
    if (existing) return { promise: existing, shared: true };
    const promise = call().finally(() => this.calls.delete(key));
    this.calls.set(key, promise);
    return { promise, shared: false };
  }
}
