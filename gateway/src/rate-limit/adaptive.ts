import type { RateLimitConfig } from './config.js';
import type { BreakerState } from '../upstream/breaker.js';
import type { LimitSpec } from './budget.js';

export type AdaptiveBudgetSettings = RateLimitConfig['adaptive'];

/** What the adaptive budget watches; both come from the subgraph resilience layer. */
export interface DegradationSignals {
  /** The breaker state of a subgraph; undefined when it has none (never called, or resilience off). */
  breakerState(subgraph: string): BreakerState | undefined;
  /** p95 latency (ms) of the subgraph's recent calls; undefined with too few samples. */
  latencyP95(subgraph: string, windowMs: number, minSamples: number): number | undefined;
}

/** Why a subgraph slows its callers' refill, as reported in `throttleStatus` and the log. */
export type DegradationReason = 'breaker_open' | 'breaker_half_open' | 'slow' | 'recovering';

export interface RefillAdjustment {
  /** The factor applied to every token bucket's refill rate (1: none). */
  factor: number;
  /** The degraded subgraphs the operation uses, each with its own factor and why. */
  degraded: { subgraph: string; factor: number; reason: DegradationReason }[];
}

const NO_ADJUSTMENT: RefillAdjustment = { factor: 1, degraded: [] };

/**
 * Adaptive budgets: while a subgraph is degraded (its breaker open or half-open, or its p95 latency
 * over the threshold), the refill rate of every token-bucket limit charged for an operation that
 * uses it is multiplied by a factor below 1, so clients are slowed before the backend falls over.
 * Once the subgraph is healthy again the factor climbs back to 1 linearly over `recoveryMs`, so the
 * demand held back does not all return at once. The lowest factor among the operation's subgraphs
 * wins. Sliding windows (daily quotas) are not scaled: they bound totals, not pace.
 *
 * Each gateway instance decides from what it sees itself (its breakers, its latencies); the budget
 * state in Redis stays shared, only the rate each instance refills with differs while degraded.
 */
export class AdaptiveRefill {
  /** Per subgraph: the factor it had when last seen degraded, and when. */
  private readonly lastDegraded = new Map<string, { factor: number; at: number }>();
  private readonly known = new Set<string>();

  constructor(
    private readonly settings: AdaptiveBudgetSettings,
    private readonly signals: DegradationSignals,
  ) {}

  /** The factor of one subgraph now, and why it is below 1. */
  subgraphFactor(subgraph: string, now = Date.now()): { factor: number; reason?: DegradationReason } {
    this.known.add(subgraph);
    const { settings } = this;
    let factor = 1;
    let reason: DegradationReason | undefined;
    const state = this.signals.breakerState(subgraph);
    if (state === 'open') [factor, reason] = [settings.openFactor, 'breaker_open'];
    else if (state === 'half_open') [factor, reason] = [settings.halfOpenFactor, 'breaker_half_open'];
    if (settings.latencyThresholdMs !== undefined && settings.latencyFactor < factor) {
      const p95 = this.signals.latencyP95(subgraph, settings.latencyWindowMs, settings.latencyMinSamples);
      if (p95 !== undefined && p95 > settings.latencyThresholdMs) [factor, reason] = [settings.latencyFactor, 'slow'];
    }
    if (reason) {
      this.lastDegraded.set(subgraph, { factor, at: now });
      return { factor, reason };
    }
    const last = this.lastDegraded.get(subgraph);
    if (!last) return { factor: 1 };
    const elapsed = now - last.at;
    if (elapsed >= settings.recoveryMs) {
      this.lastDegraded.delete(subgraph);
      return { factor: 1 };
    }
    return { factor: last.factor + (1 - last.factor) * (elapsed / settings.recoveryMs), reason: 'recovering' };
  }

  /** The adjustment for an operation that uses these subgraphs. */
  forSubgraphs(subgraphs: readonly string[], now = Date.now()): RefillAdjustment {
    let adjustment = NO_ADJUSTMENT;
    for (const subgraph of subgraphs) {
      const { factor, reason } = this.subgraphFactor(subgraph, now);
      if (!reason) continue;
      if (adjustment === NO_ADJUSTMENT) adjustment = { factor: 1, degraded: [] };
      adjustment.degraded.push({ subgraph, factor: round(factor), reason });
      adjustment.factor = Math.min(adjustment.factor, factor);
    }
    if (adjustment !== NO_ADJUSTMENT) adjustment.factor = round(adjustment.factor);
    return adjustment;
  }

  /** The current factor of every subgraph seen so far (for the metrics scrape). */
  *factors(now = Date.now()): Iterable<[string, number]> {
    for (const subgraph of this.known) yield [subgraph, round(this.subgraphFactor(subgraph, now).factor)];
  }
}

/** The limits with every token bucket's refill multiplied by `factor` (the same array when 1). */
export function scaleRefill(limits: readonly LimitSpec[], factor: number): LimitSpec[] {
  if (factor >= 1) return limits as LimitSpec[];
  return limits.map((limit) => (limit.kind === 'token_bucket' ? { ...limit, refillPerSecond: limit.refillPerSecond * factor } : limit));
}

function round(factor: number): number {
  return Math.round(factor * 1000) / 1000;
}
