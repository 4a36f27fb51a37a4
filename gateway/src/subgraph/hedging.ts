import type { EventEmitter } from 'node:events';
import type { GatewayMetrics } from '../observability/metrics.js';
import type { Bulkhead } from '../upstream/bulkhead.js';
import { callFailureOf } from '../upstream/call-error.js';
import { HedgeBudget, runHedged, type HedgeSkip } from '../upstream/hedge.js';
import type { RoutedCall } from '../upstream/route.js';
import { SubgraphLatencies } from './latency.js';

/** `hedging` of one subgraph (see subgraph/config.ts). */
export interface HedgingSettings {
  enabled: boolean;
  delayMs: number;
  adaptive: boolean;
  percentile: number;
  minDelayMs: number;
  maxPercent: number;
  windowMs: number;
}

/** The adaptive delay follows the calls of this last window, once it holds this many (as stale-if-slow's). */
const ADAPTIVE_WINDOW_MS = 60_000;
const ADAPTIVE_MIN_SAMPLES = 20;

/**
 * Hedging of one replicated subgraph's query calls: the delay (fixed, or the recent latency
 * percentile within [`minDelayMs`, `delayMs`]), the budget, and the metrics. Each attempt of a
 * call (the caller's retries still apply around it) is one hedged pair at most.
 */
export class SubgraphHedging {
  private readonly budget: HedgeBudget;
  private readonly latencies: SubgraphLatencies | undefined;
  private readonly sent: { inc(): void };
  private readonly won: { inc(): void };

  constructor(
    private readonly name: string,
    private readonly settings: HedgingSettings,
    private readonly metrics: GatewayMetrics,
  ) {
    this.budget = new HedgeBudget(settings);
    this.latencies = settings.adaptive ? new SubgraphLatencies({ recomputeAfterMs: 250 }) : undefined;
    this.sent = metrics.subgraphHedges.labels({ subgraph: name });
    this.won = metrics.subgraphHedgesWon.labels({ subgraph: name });
  }

  /** The hedge delay (ms) for an attempt starting now. */
  delayMs(now = Date.now()): number {
    const { delayMs, percentile, minDelayMs } = this.settings;
    const recent = this.latencies?.percentile(this.name, percentile, ADAPTIVE_WINDOW_MS, ADAPTIVE_MIN_SAMPLES, now);
    if (recent === undefined) return delayMs;
    return Math.round(Math.min(delayMs, Math.max(minDelayMs, recent)));
  }

  /**
   * One attempt of a query through the bulkhead and `routed`, hedged to another replica after the
   * delay. `send` gets the URL and the emitter that aborts it when the other attempt wins (none for
   * a half-open breaker's probe, which always runs to its end).
   */
  run<T>(routed: RoutedCall, bulkhead: Bulkhead, send: (url: string, cancel: EventEmitter | undefined) => Promise<T>): Promise<T> {
    const started = Date.now();
    this.budget.recordCall();
    const promise = runHedged(
      (abort, hedge) => bulkhead.run(() => routed.attempt((url, probe) => send(url, probe ? undefined : abort), hedge)),
      {
        delayMs: this.delayMs(started),
        refusal: () => this.refusal(routed, bulkhead),
        onSent: () => this.sent.inc(),
        onWon: () => this.won.inc(),
        onSkipped: (reason) => this.metrics.subgraphHedgesSkipped.inc({ subgraph: this.name, reason }),
      },
    );
    if (this.latencies) {
      // Answers and timeouts are latency the subgraph showed; a refusal (breaker, bulkhead) is not.
      const record = () => this.latencies?.record(this.name, Date.now() - started);
      promise.then(record, (error: unknown) => {
        if (callFailureOf(error) === 'timeout') record();
      });
    }
    return promise;
  }

  private refusal(routed: RoutedCall, bulkhead: Bulkhead): HedgeSkip | undefined {
    if (!routed.canHedge()) return 'no_replica';
    if (bulkhead.inFlight >= bulkhead.maxConcurrent) return 'bulkhead';
    return this.budget.admit() ? undefined : 'budget';
  }
}
