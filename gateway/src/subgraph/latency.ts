/**
 * Recent call latencies per subgraph, for the p95 that adaptive budgets watch and the percentile an
 * adaptive soft deadline (stale-if-slow) follows. A bounded ring of
 * samples per subgraph; the percentile is computed over the samples still inside the window and
 * kept for a short while, so a busy request path does not sort on every charge.
 */
export interface SubgraphLatenciesOptions {
  /** Samples kept per subgraph (the oldest is overwritten). @default 512 */
  maxSamples?: number;
  /** How long a computed percentile is reused. @default 1000 */
  recomputeAfterMs?: number;
}

interface Ring {
  at: Float64Array;
  ms: Float64Array;
  next: number;
  size: number;
  cached?: { key: string; value: number | undefined; computedAt: number };
}

export class SubgraphLatencies {
  private readonly rings = new Map<string, Ring>();
  private readonly maxSamples: number;
  private readonly recomputeAfterMs: number;

  constructor(options: SubgraphLatenciesOptions = {}) {
    this.maxSamples = options.maxSamples ?? 512;
    this.recomputeAfterMs = options.recomputeAfterMs ?? 1_000;
  }

  /** One call that reached the subgraph and came back (or timed out) after `ms`. */
  record(subgraph: string, ms: number, now = Date.now()): void {
    let ring = this.rings.get(subgraph);
    if (!ring) {
      ring = { at: new Float64Array(this.maxSamples), ms: new Float64Array(this.maxSamples), next: 0, size: 0 };
      this.rings.set(subgraph, ring);
    }
    ring.at[ring.next] = now;
    ring.ms[ring.next] = ms;
    ring.next = (ring.next + 1) % this.maxSamples;
    ring.size = Math.min(ring.size + 1, this.maxSamples);
  }

  /** The 95th percentile (ms) of the calls in the last `windowMs`; undefined with fewer than `minSamples`. */
  p95(subgraph: string, windowMs: number, minSamples: number, now = Date.now()): number | undefined {
    return this.percentile(subgraph, 95, windowMs, minSamples, now);
  }

  /** The `percentile`th percentile (ms, 0..100) of the calls in the last `windowMs`; undefined with fewer than `minSamples`. */
  percentile(subgraph: string, percentile: number, windowMs: number, minSamples: number, now = Date.now()): number | undefined {
    const ring = this.rings.get(subgraph);
    if (!ring) return undefined;
    const key = `${percentile}:${windowMs}:${minSamples}`;
    if (ring.cached && ring.cached.key === key && now - ring.cached.computedAt < this.recomputeAfterMs) return ring.cached.value;
    const recent: number[] = [];
    for (let i = 0; i < ring.size; i++) {
      if (now - (ring.at[i] ?? 0) <= windowMs) recent.push(ring.ms[i] ?? 0);
    }
    let value: number | undefined;
    if (recent.length >= minSamples) {
      recent.sort((a, b) => a - b);
      value = recent[Math.max(0, Math.min(recent.length - 1, Math.ceil((recent.length * percentile) / 100) - 1))];
    }
    ring.cached = { key, value, computedAt: now };
    return value;
  }
}
