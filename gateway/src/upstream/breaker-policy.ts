/**
 * The opening rules a breaker applies beside opossum's own failure rate, over what callers saw:
 *
 * - every outcome is weighted by the callers that waited for it (a call shared by N identical
 *   requests counts N times), so in-flight dedupe cannot hide a failure from the breaker;
 * - consecutive failures (weighted): a subgraph that fails every call opens the breaker as soon as
 *   `consecutiveFailures` callers have seen it fail, whatever the volume in the window;
 * - the weighted failure rate (`errorThresholdPercentage`, compared as opossum does: above it);
 * - the slow-call rate, after Resilience4j: a call (answered or failed) that took at least
 *   `slowCallDurationMs` is slow, and when slow calls reach `slowCallRatePercentage` of the calls in
 *   the window (at least `volumeThreshold` of them), the breaker opens.
 *
 * The window is `rollingWindowMs` in 10 buckets, like opossum's, and starts empty each time the
 * breaker opens or closes (the calls of a past state say nothing about the next one).
 */
export interface BreakerPolicySettings {
  errorThresholdPercentage: number;
  rollingWindowMs: number;
  volumeThreshold: number;
  /** Weighted failures in a row that open the breaker; 0: off. */
  consecutiveFailures: number;
  /** A call that takes at least this long is slow; 0: slowness is not counted. */
  slowCallDurationMs: number;
  /** Share of slow calls in the window (percent) at or above which the breaker opens. */
  slowCallRatePercentage: number;
}

/** Why the policy opened a breaker (log field). */
export type PolicyVerdict = 'consecutive_failures' | 'failure_rate' | 'slow_call_rate';

interface Bucket {
  start: number;
  calls: number;
  failures: number;
  slow: number;
}

const BUCKETS = 10;

export class BreakerPolicy {
  private readonly buckets: Bucket[] = [];
  private readonly bucketMs: number;
  private consecutive = 0;

  constructor(
    private readonly settings: BreakerPolicySettings,
    private readonly now: () => number = Date.now,
  ) {
    this.bucketMs = Math.max(1, Math.floor(settings.rollingWindowMs / BUCKETS));
  }

  /** A call that took `ms` at least this long counts as slow. */
  isSlow(ms: number): boolean {
    return this.settings.slowCallDurationMs > 0 && ms >= this.settings.slowCallDurationMs;
  }

  /**
   * Books one outcome seen by `weight` callers; returns why the breaker must open now, if it must.
   * `failed` is a failure that counts against the breaker (the upstream's fault, not a refusal).
   */
  record(failed: boolean, ms: number, weight: number): PolicyVerdict | undefined {
    const n = Math.max(1, Math.floor(weight));
    const bucket = this.current();
    bucket.calls += n;
    if (failed) bucket.failures += n;
    if (this.isSlow(ms)) bucket.slow += n;
    this.consecutive = failed ? this.consecutive + n : 0;
    const { consecutiveFailures, volumeThreshold, errorThresholdPercentage, slowCallRatePercentage } = this.settings;
    if (consecutiveFailures > 0 && this.consecutive >= consecutiveFailures) return 'consecutive_failures';
    const totals = this.totals();
    if (totals.calls < Math.max(1, volumeThreshold)) return undefined;
    if (failed && (totals.failures / totals.calls) * 100 > errorThresholdPercentage) return 'failure_rate';
    if (this.settings.slowCallDurationMs > 0 && (totals.slow / totals.calls) * 100 >= slowCallRatePercentage) return 'slow_call_rate';
    return undefined;
  }

  /** Weighted calls, failures and slow calls in the window. */
  totals(): { calls: number; failures: number; slow: number } {
    const since = this.now() - this.settings.rollingWindowMs;
    const totals = { calls: 0, failures: 0, slow: 0 };
    for (const bucket of this.buckets) {
      if (bucket.start <= since) continue;
      totals.calls += bucket.calls;
      totals.failures += bucket.failures;
      totals.slow += bucket.slow;
    }
    return totals;
  }

  /** Forgets the window and the run of failures (on every state change). */
  reset(): void {
    this.buckets.length = 0;
    this.consecutive = 0;
  }

  private current(): Bucket {
    const now = this.now();
    const start = now - (now % this.bucketMs);
    const last = this.buckets[this.buckets.length - 1];
    if (last?.start === start) return last;
    const bucket = { start, calls: 0, failures: 0, slow: 0 };
    this.buckets.push(bucket);
    if (this.buckets.length > BUCKETS) this.buckets.shift();
    return bucket;
  }
}
