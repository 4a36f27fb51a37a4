import type { Logger } from 'pino';
import type { GatewayMetrics } from '../observability/metrics.js';
import { BreakerOpenError, type Breaker, type BreakerState, type CallAudience } from './breaker.js';
import { AttemptCancelledError } from './cancelled.js';
import { createStrategy, type BalancingStrategy, type Candidate, type Strategy } from './strategies.js';

/**
 * How a replica stands: `healthy` takes calls; `unhealthy` failed `unhealthyThreshold` active
 * checks in a row and stays out until `healthyThreshold` pass; `ejected` failed
 * `consecutiveFailures` real calls in a row and sits out a back-off. An open breaker also keeps a
 * replica out; it is reported next to the state (`breaker`), not as a state of its own.
 */
export type ReplicaState = 'healthy' | 'unhealthy' | 'ejected';

/** `gateway_upstream_replica_state` values. */
export const REPLICA_STATE_VALUE: Readonly<Record<ReplicaState, number>> = { healthy: 0, unhealthy: 1, ejected: 2 };

export interface EjectionSettings {
  /** Failed calls in a row (network, timeout, 5xx) that eject a replica; 0 turns passive ejection off. @default 3 */
  consecutiveFailures: number;
  /** First ejection's length; each further ejection without a success in between doubles it. @default 5000 */
  baseEjectionMs: number;
  /** Longest ejection. @default 60000 */
  maxEjectionMs: number;
}

export interface UpstreamReplica {
  /** The replica's URL, as configured. */
  url: string;
  /** Share of calls under `weighted_round_robin`, of hash-ring points under `consistent_hash`, divisor under `least_outstanding`. @default 1 */
  weight: number;
}

export interface ReplicaSnapshot {
  url: string;
  weight: number;
  state: ReplicaState;
  breaker: BreakerState;
  /** Calls in flight to it now. */
  outstanding: number;
  /** Failed calls in a row since the last success. */
  consecutiveFailures: number;
  /** Times it has been ejected since the gateway started. */
  ejections: number;
  /** Until when it is ejected (ISO time), when it is. */
  ejectedUntil?: string | undefined;
}

export interface ReplicaPoolOptions {
  /** The subgraph (or route) the replicas serve: log field and metric label. */
  name: string;
  upstreams: readonly UpstreamReplica[];
  strategy: BalancingStrategy;
  ejection: EjectionSettings;
  /** The breaker of one replica (each replica has its own). */
  breakerFor(url: string): Breaker;
  /** Which rejections of a call are the replica's fault (they count toward ejection). */
  isFailure(error: unknown): boolean;
  metrics: GatewayMetrics;
  logger: Logger;
  /** Clock, for tests of the back-off. @default Date.now */
  now?: () => number;
}

interface ReplicaCounters {
  success: { inc(): void };
  failure: { inc(): void };
  rejected: { inc(): void };
  cancelled: { inc(): void };
}

/** No replica may take the call: every one is unhealthy, ejected or behind an open breaker. */
export class NoReplicaAvailableError extends Error {
  override readonly name = 'NoReplicaAvailableError';
  constructor(readonly pool: string) {
    super(`no replica of "${pool}" is available (all unhealthy, ejected or with an open breaker)`);
  }
}

/** One replica and its bookkeeping. Only the pool and its health checker change it. */
export class Replica implements Candidate {
  outstanding = 0;
  /** Verdict of the active health checks (true until they say otherwise). */
  passingChecks = true;
  ejectedUntil = 0;
  consecutiveFailures = 0;
  /** Ejections since the last success: the exponent of the next back-off. */
  ejectionLevel = 0;
  ejections = 0;
  /** Metric label: the URL without credentials. */
  readonly label: string;

  constructor(
    readonly url: string,
    readonly weight: number,
    readonly breaker: Breaker,
  ) {
    this.label = replicaLabel(url);
  }
}

/** The breaker of one replica of `owner` (a subgraph, or a REST route's breaker name): `<owner>@<url without credentials>` (also its `gateway_circuit_breaker_state` label). */
export function replicaBreakerName(owner: string, url: string): string {
  return `${owner}@${replicaLabel(url)}`;
}

/** A replica's URL without credentials: how logs, metrics, `/ready` and breaker names show it. */
export function replicaLabel(url: string): string {
  const parsed = new URL(url);
  parsed.username = '';
  parsed.password = '';
  return parsed.href;
}

/**
 * The replicas of one upstream and the rules that route a call to one of them.
 *
 * A call goes to the replica the strategy picks among the usable ones: healthy, not ejected, breaker
 * not open, and not already tried by this call (a retry goes to a different replica while there is
 * one; with none left it may go back to one already tried, as a single-URL subgraph retries its one
 * URL). Each replica's calls run through its own breaker; their outcomes feed passive ejection.
 */
export class ReplicaPool {
  readonly replicas: readonly Replica[];
  private readonly strategy: Strategy<Replica>;
  private readonly now: () => number;

  /** Each replica's request counters, bound to their labels once (prom-client hashes labels on every unbound `inc`). */
  private readonly counters = new Map<Replica, ReplicaCounters>();

  constructor(private readonly options: ReplicaPoolOptions) {
    this.replicas = options.upstreams.map(({ url, weight }) => new Replica(url, weight, options.breakerFor(url)));
    for (const replica of this.replicas) {
      const labels = { subgraph: options.name, replica: replica.label };
      const counter = options.metrics.upstreamRequests;
      this.counters.set(replica, {
        success: counter.labels({ ...labels, result: 'success' }),
        failure: counter.labels({ ...labels, result: 'failure' }),
        rejected: counter.labels({ ...labels, result: 'rejected' }),
        cancelled: counter.labels({ ...labels, result: 'cancelled' }),
      });
    }
    this.strategy = createStrategy(options.strategy, this.replicas);
    this.now = options.now ?? Date.now;
    for (const replica of this.replicas) this.publishState(replica);
  }

  get name(): string {
    return this.options.name;
  }

  state(replica: Replica): ReplicaState {
    // An unhealthy verdict outlives any ejection, so it is what the gauge shows while both hold.
    if (!replica.passingChecks) return 'unhealthy';
    if (replica.ejectedUntil > this.now()) return 'ejected';
    return 'healthy';
  }

  /** Takes calls now: healthy and its breaker not open (half-open lets its probe through). */
  available(replica: Replica): boolean {
    return this.state(replica) === 'healthy' && replica.breaker.state !== 'open';
  }

  /** How many replicas take calls now (see {@link available}). */
  availableCount(): number {
    return this.replicas.filter((replica) => this.available(replica)).length;
  }

  /**
   * The replica for the next attempt of a call that has already tried `tried`; undefined when none
   * may take it. `untriedOnly` (a hedge): never one already tried.
   */
  pick(tried: ReadonlySet<Replica>, key?: string, untriedOnly = false): Replica | undefined {
    return (
      this.strategy.pick((replica) => !tried.has(replica) && this.available(replica), key) ??
      (tried.size > 0 && !untriedOnly ? this.strategy.pick((replica) => this.available(replica), key) : undefined)
    );
  }

  /** Whether a replica this call has not tried may take an attempt now (where a hedge could go). */
  hasUntried(tried: ReadonlySet<Replica>): boolean {
    return this.replicas.some((replica) => !tried.has(replica) && this.available(replica));
  }

  /**
   * One attempt of a call: picks a replica (adding it to `tried`), runs `attempt` with its URL
   * through its breaker, and books the outcome. Rejects with {@link NoReplicaAvailableError} when no
   * replica may take it. `attempt` also learns whether it is the probe of a half-open breaker (a
   * hedge never cancels that one: its outcome decides the breaker). `untriedOnly`: see {@link pick}.
   */
  async run<T>(
    tried: Set<Replica>,
    key: string | undefined,
    attempt: (url: string, probe: boolean) => Promise<T>,
    audience?: CallAudience,
    untriedOnly = false,
  ): Promise<T> {
    const replica = this.pick(tried, key, untriedOnly);
    if (!replica) throw new NoReplicaAvailableError(this.options.name);
    tried.add(replica);
    const counted = this.counters.get(replica) as ReplicaCounters;
    replica.outstanding++;
    try {
      const probe = replica.breaker.state === 'half_open';
      const result = await replica.breaker.run(() => attempt(replica.url, probe), audience);
      counted.success.inc();
      this.recordSuccess(replica);
      return result;
    } catch (error) {
      if (error instanceof BreakerOpenError) {
        counted.rejected.inc();
      } else if (error instanceof AttemptCancelledError) {
        // Another replica answered first: says nothing of this one.
        counted.cancelled.inc();
      } else if (this.options.isFailure(error)) {
        counted.failure.inc();
        this.recordFailure(replica);
      } else {
        counted.success.inc();
        this.recordSuccess(replica);
      }
      throw error;
    } finally {
      replica.outstanding--;
    }
  }

  /** The active health checks' verdict changed. A replica that comes back also leaves any ejection (it was down, now it is up). */
  setPassingChecks(replica: Replica, passing: boolean): void {
    if (replica.passingChecks === passing) return;
    replica.passingChecks = passing;
    if (passing) {
      replica.ejectedUntil = 0;
      replica.consecutiveFailures = 0;
    }
    this.options.logger[passing ? 'info' : 'warn'](
      { subgraph: this.options.name, replica: replica.label, state: this.state(replica) },
      passing ? 'replica passes its health checks again' : 'replica fails its health checks',
    );
    this.publishState(replica);
  }

  /** Every replica's state, for `/ready` and the state gauge. */
  snapshot(): ReplicaSnapshot[] {
    const now = this.now();
    return this.replicas.map((replica) => ({
      url: replica.label,
      weight: replica.weight,
      state: this.state(replica),
      breaker: replica.breaker.state,
      outstanding: replica.outstanding,
      consecutiveFailures: replica.consecutiveFailures,
      ejections: replica.ejections,
      ejectedUntil: replica.ejectedUntil > now ? new Date(replica.ejectedUntil).toISOString() : undefined,
    }));
  }

  /** Writes every replica's current state to the gauge (an ejection ends by time, with no event). */
  publishStates(): void {
    for (const replica of this.replicas) this.publishState(replica);
  }

  private recordSuccess(replica: Replica): void {
    replica.consecutiveFailures = 0;
    // The back-off resets once the replica serves again; one that keeps failing right after coming back waits longer each time.
    if (replica.ejectedUntil <= this.now()) replica.ejectionLevel = 0;
  }

  private recordFailure(replica: Replica): void {
    replica.consecutiveFailures++;
    const { consecutiveFailures, baseEjectionMs, maxEjectionMs } = this.options.ejection;
    const now = this.now();
    if (consecutiveFailures === 0 || replica.consecutiveFailures < consecutiveFailures || replica.ejectedUntil > now) return;
    const ejectionMs = Math.min(maxEjectionMs, baseEjectionMs * 2 ** replica.ejectionLevel);
    replica.ejectionLevel = Math.min(replica.ejectionLevel + 1, 30);
    replica.ejectedUntil = now + ejectionMs;
    replica.consecutiveFailures = 0;
    replica.ejections++;
    this.options.metrics.upstreamEjections.inc({ subgraph: this.options.name, replica: replica.label });
    this.options.logger.warn(
      { subgraph: this.options.name, replica: replica.label, ejectionMs, ejections: replica.ejections },
      'replica ejected after consecutive failures',
    );
    this.publishState(replica);
  }

  private publishState(replica: Replica): void {
    this.options.metrics.upstreamReplicaState.set(
      { subgraph: this.options.name, replica: replica.label },
      REPLICA_STATE_VALUE[this.state(replica)],
    );
  }
}
