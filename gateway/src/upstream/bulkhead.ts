/** A call refused because the bulkhead was full: nothing ran. */
export class BulkheadRejectedError extends Error {
  override readonly name = 'BulkheadRejectedError';
  constructor(
    readonly bulkhead: string,
    readonly maxConcurrent: number,
  ) {
    super(`bulkhead "${bulkhead}" is full (${maxConcurrent} calls in flight)`);
  }
}

export interface Bulkhead {
  readonly inFlight: number;
  readonly maxConcurrent: number;
  /** Runs `call` if fewer than `maxConcurrent` calls are in flight, else rejects at once (no queue). */
  run<T>(call: () => Promise<T>): Promise<T>;
}

export interface BulkheadOptions {
  /** Named in errors and logs. */
  name: string;
  /** Calls allowed in flight at once. */
  maxConcurrent: number;
}

/**
 * A fail-fast concurrency cap, kept apart from the breaker on purpose: a full bulkhead says the
 * gateway is shedding load, not that the upstream failed, so it does not count against the breaker.
 */
export function createBulkhead(options: BulkheadOptions): Bulkhead {
  let inFlight = 0;
  return {
    get inFlight() {
      return inFlight;
    },
    maxConcurrent: options.maxConcurrent,
    async run(call) {
      if (inFlight >= options.maxConcurrent) throw new BulkheadRejectedError(options.name, options.maxConcurrent);
      inFlight++;
      try {
        return await call();
      } finally {
        inFlight--;
      }
    },
  };
}
