import { EventEmitter } from 'node:events';

/**
 * Hedged calls across replicas (as in "The Tail at Scale" and Envoy's / gRPC's hedging policies):
 * when the first attempt of a call has not answered after a delay, a second one goes to another
 * replica; the first answer wins and the other attempt is aborted. At most one hedge per call, and
 * a budget over a rolling window caps the extra load a slow upstream is sent.
 */

/** Why a call that waited past its hedge delay was not hedged (`gateway_subgraph_hedges_skipped_total{reason}`). */
export type HedgeSkip = 'budget' | 'no_replica' | 'bulkhead';

export interface HedgeBudgetSettings {
  /** Hedges may be at most this share (percent) of the window's hedgeable calls. */
  maxPercent: number;
  /** Length of the rolling window (10 buckets). */
  windowMs: number;
}

const BUCKETS = 10;

/**
 * Counts hedgeable calls and hedges over a rolling window: a hedge is admitted while hedges stay
 * within `maxPercent` of the calls, and one hedge per window is always allowed (a quiet upstream
 * can still be hedged; one extra call per window is no load).
 */
export class HedgeBudget {
  private readonly buckets: { start: number; calls: number; hedges: number }[] = [];
  private readonly bucketMs: number;

  constructor(
    private readonly settings: HedgeBudgetSettings,
    private readonly now: () => number = Date.now,
  ) {
    this.bucketMs = Math.max(1, Math.floor(settings.windowMs / BUCKETS));
  }

  /** A call that may be hedged started. */
  recordCall(): void {
    this.current().calls++;
  }

  /** Takes one hedge from the budget; false when the window's hedges are already at the cap. */
  admit(): boolean {
    const since = this.now() - this.settings.windowMs;
    let calls = 0;
    let hedges = 0;
    for (const bucket of this.buckets) {
      if (bucket.start <= since) continue;
      calls += bucket.calls;
      hedges += bucket.hedges;
    }
    const allowed = Math.max(1, Math.floor((calls * this.settings.maxPercent) / 100));
    if (hedges >= allowed) return false;
    this.current().hedges++;
    return true;
  }

  private current() {
    const now = this.now();
    const start = now - (now % this.bucketMs);
    const last = this.buckets[this.buckets.length - 1];
    if (last?.start === start) return last;
    const bucket = { start, calls: 0, hedges: 0 };
    this.buckets.push(bucket);
    if (this.buckets.length > BUCKETS) this.buckets.shift();
    return bucket;
  }
}

export interface HedgeOptions {
  /** How long the first attempt may go unanswered before the hedge is considered. */
  delayMs: number;
  /** At the delay: why no hedge may be sent now (no other replica, the bulkhead, the budget), or undefined: send it. */
  refusal(): HedgeSkip | undefined;
  onSent(): void;
  onWon(): void;
  onSkipped(reason: HedgeSkip): void;
}

/**
 * Runs `start(abort, false)`; if it has not settled after `delayMs` and {@link HedgeOptions.refusal}
 * allows, also `start(abort, true)`. The first attempt to resolve wins and the other's `abort`
 * emitter fires (undici aborts the request: the upstream sees its connection close). A failure of
 * one attempt waits for the other; the call fails when every attempt has failed, with the first
 * attempt's error. A first attempt that fails before the delay fails the call (no hedge: the
 * caller's retries decide).
 */
export function runHedged<T>(start: (abort: EventEmitter, hedge: boolean) => Promise<T>, options: HedgeOptions): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const aborts: EventEmitter[] = [];
    let settled = false;
    let pending = 0;
    let primaryError: unknown;
    const launch = (hedge: boolean) => {
      const abort = new EventEmitter();
      aborts.push(abort);
      pending++;
      start(abort, hedge).then(
        (value) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          for (const other of aborts) if (other !== abort) other.emit('abort');
          if (hedge) options.onWon();
          resolve(value);
        },
        (error: unknown) => {
          pending--;
          if (!hedge) primaryError = error;
          // The other attempt may still answer; with none left, the first attempt's error is the call's.
          if (settled || pending > 0) return;
          settled = true;
          clearTimeout(timer);
          reject(primaryError);
        },
      );
    };
    // Attempts settle asynchronously, after the timer below exists.
    launch(false);
    const timer = setTimeout(() => {
      if (settled) return;
      const refusal = options.refusal();
      if (refusal) return options.onSkipped(refusal);
      options.onSent();
      launch(true);
    }, options.delayMs);
  });
}
