/** Counters of one data-layer batch function. */
export interface BatchStats {
  /** How many times the batch function ran. */
  calls: number;
  /** Keys received over all calls (DataLoader de-duplicates keys within one batch). */
  keys: number;
  /** Keys received by the most recent call; 0 before the first. */
  lastBatchSize: number;
}

/**
 * Counts the calls of a subgraph's data-layer batch functions, so tests can prove that DataLoader
 * batches: N entity representations in one request must reach the data layer once, with N keys.
 * Batch names are per subgraph: see each subgraph's data.ts (`usersById`, `productsByUpc`,
 * `ordersById`, `ordersByUserId`).
 */
export class DataAccessStats {
  readonly #batches = new Map<string, BatchStats>();

  /** Called by a batch function each time it runs. */
  recordBatch(batchName: string, keyCount: number): void {
    const current = this.#batches.get(batchName) ?? { calls: 0, keys: 0, lastBatchSize: 0 };
    this.#batches.set(batchName, {
      calls: current.calls + 1,
      keys: current.keys + keyCount,
      lastBatchSize: keyCount,
    });
  }

  /** A copy of one batch function's counters (all zero if it never ran). */
  batch(batchName: string): BatchStats {
    return { ...(this.#batches.get(batchName) ?? { calls: 0, keys: 0, lastBatchSize: 0 }) };
  }

  /** A copy of every counter, keyed by batch name. */
  snapshot(): Record<string, BatchStats> {
    return Object.fromEntries([...this.#batches].map(([name, stats]) => [name, { ...stats }]));
  }

  reset(): void {
    this.#batches.clear();
  }
}
