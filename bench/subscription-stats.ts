/** Pure figures of `npm run bench:subscriptions`: delivery correctness per subscriber and delay percentiles. */

export interface Delivery {
  /** Events meant for the subscriber that it never got. */
  missing: number;
  /** Extra copies of events it got more than once. */
  duplicated: number;
  /** Events that arrived before an event published earlier than them (after removing duplicates). */
  outOfOrder: number;
}

/**
 * Compares what one subscriber received (event ids in arrival order; ids it was not meant to get
 * are ignored) with what it was meant to get, in publish order.
 */
export function checkDelivery(expected: readonly string[], received: readonly string[]): Delivery {
  const position = new Map(expected.map((id, i) => [id, i]));
  const seen = new Set<string>();
  let duplicated = 0;
  let outOfOrder = 0;
  let last = -1;
  for (const id of received) {
    const at = position.get(id);
    if (at === undefined) continue;
    if (seen.has(id)) {
      duplicated++;
      continue;
    }
    seen.add(id);
    if (at < last) outOfOrder++;
    else last = at;
  }
  return { missing: expected.length - seen.size, duplicated, outOfOrder };
}

/** The p-th percentile (0–100) of ascending-sorted values, nearest rank; NaN when there are none. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}
