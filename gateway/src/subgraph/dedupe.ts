/**
 * In-flight deduplication: concurrent calls with the same key share the first one's promise. The
 * entry is dropped as soon as that promise settles, so nothing is cached beyond the call itself.
 */
export class InFlight<T> {
  private readonly calls = new Map<string, { promise: Promise<T>; audience: { callers: number } }>();

  get size(): number {
    return this.calls.size;
  }

  /**
   * `shared` is true when the promise belongs to a call that was already in flight. `call` gets the
   * call's audience: how many callers wait for it so far (the first, plus one per caller that joins),
   * which the breaker reads when the call ends, so a failure shared by N callers counts N times.
   */
  run(key: string, call: (audience: { readonly callers: number }) => Promise<T>): { promise: Promise<T>; shared: boolean } {
    const existing = this.calls.get(key);
    if (existing) {
      existing.audience.callers++;
      return { promise: existing.promise, shared: true };
    }
    const audience = { callers: 1 };
    const promise = call(audience).finally(() => this.calls.delete(key));
    this.calls.set(key, { promise, audience });
    return { promise, shared: false };
  }
}
