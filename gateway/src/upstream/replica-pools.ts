import type { Logger } from 'pino';
import type { GatewayMetrics } from '../observability/metrics.js';
import type { BreakerRegistry, BreakerSettings, BreakerSnapshot, BreakerState } from './breaker.js';
import { isBreakerFailure } from './call-error.js';
import { startHealthChecks, type HealthChecker, type HealthCheckSettings } from './health-check.js';
import type { UpstreamFetch } from './pool.js';
import { ReplicaPool, replicaBreakerName, type EjectionSettings, type UpstreamReplica } from './replica-pool.js';
import type { ReplicaRoute } from './route.js';
import type { BalancingStrategy } from './strategies.js';

/** `loadBalancing` of one upstream (a subgraph or a REST route), defaults and overrides merged. */
export interface LoadBalancingSettings {
  strategy: BalancingStrategy;
  /** The header `consistent_hash` hashes. */
  hashHeader?: string | undefined;
  healthCheck: HealthCheckSettings;
  ejection: EjectionSettings;
}

export interface ReplicaPoolSpec {
  /** The pool's name: log field and metric label, and the key {@link ReplicaPools.get} finds it by. */
  name: string;
  /** Each replica's breaker is `<breakerOwner>@<replica>` in the shared registry. */
  breakerOwner: string;
  breakerSettings: BreakerSettings;
  upstreams: readonly UpstreamReplica[];
  balancing: LoadBalancingSettings;
  /**
   * The pool the active health checks probe through, asked for once when they start; undefined: no
   * active checks (they also need `balancing.healthCheck.enabled`).
   */
  probe?: (() => UpstreamFetch) | undefined;
}

export interface ReplicaPoolsOptions {
  /** The registry the replicas' breakers live in (shared by subgraphs and REST routes). */
  breakers: BreakerRegistry;
  metrics: GatewayMetrics;
  logger: Logger;
}

/**
 * Builds the replica pools of a set of upstreams, the same way for subgraphs and REST routes: a
 * breaker per replica (named by URL, so every gateway instance and the shared breaker store mean
 * the same replica by the same name), the active health checks, and the state gauge refreshed
 * before each scrape. Pools are kept by name, and by the names of their replicas' breakers.
 */
export class ReplicaPools {
  private readonly routes = new Map<string, ReplicaRoute>();
  private readonly byBreaker = new Map<string, ReplicaPool>();
  private readonly checkers: HealthChecker[] = [];
  private readonly refresh = () => {
    for (const { pool } of this.routes.values()) pool.publishStates();
  };

  constructor(private readonly options: ReplicaPoolsOptions) {
    options.metrics.beforeReplicaStateCollect.add(this.refresh);
  }

  create(spec: ReplicaPoolSpec): ReplicaRoute {
    const { breakers, metrics, logger } = this.options;
    const { balancing } = spec;
    const pool = new ReplicaPool({
      name: spec.name,
      upstreams: spec.upstreams,
      strategy: balancing.strategy,
      ejection: balancing.ejection,
      breakerFor: (url) => breakers.get(replicaBreakerName(spec.breakerOwner, url), spec.breakerSettings),
      isFailure: isBreakerFailure,
      metrics,
      logger,
    });
    const route: ReplicaRoute = { pool, hashHeader: balancing.strategy === 'consistent_hash' ? balancing.hashHeader : undefined };
    this.routes.set(spec.name, route);
    for (const { url } of spec.upstreams) this.byBreaker.set(replicaBreakerName(spec.breakerOwner, url), pool);
    if (spec.probe && balancing.healthCheck.enabled) {
      this.checkers.push(startHealthChecks({ pool, fetch: spec.probe(), settings: balancing.healthCheck, logger }));
    }
    return route;
  }

  /** The pool called `name` (as {@link create} was given it), with its hash header. */
  get(name: string): ReplicaRoute | undefined {
    return this.routes.get(name);
  }

  /** The pool whose replica has the breaker called `breakerName`. */
  ofBreaker(breakerName: string): ReplicaPool | undefined {
    return this.byBreaker.get(breakerName);
  }

  /** Stops the health checks and the gauge refresh. */
  close(): void {
    for (const checker of this.checkers) checker.stop();
    this.options.metrics.beforeReplicaStateCollect.delete(this.refresh);
  }
}

/** `closed` while any replica's breaker is closed, `half_open` while any is half-open, `open` only when all are. */
export function combinedState(pool: ReplicaPool): BreakerState {
  const states = pool.replicas.map((replica) => replica.breaker.state);
  return states.includes('closed') ? 'closed' : states.includes('half_open') ? 'half_open' : 'open';
}

/** The replicas' breakers summed: calls, failures and rejections added up, the state {@link combinedState}. */
export function combinedSnapshot(pool: ReplicaPool): BreakerSnapshot | undefined {
  const snapshots = pool.replicas.map((replica) => replica.breaker.snapshot());
  const first = snapshots[0];
  if (!first) return undefined;
  const calls = snapshots.reduce((sum, s) => sum + s.calls, 0);
  const failures = snapshots.reduce((sum, s) => sum + s.failures, 0);
  return {
    state: combinedState(pool),
    errorRate: calls === 0 ? 0 : Math.round((failures / calls) * 1000) / 1000,
    calls,
    failures,
    rejected: snapshots.reduce((sum, s) => sum + s.rejected, 0),
    windowMs: first.windowMs,
    slowCallRate: Math.max(...snapshots.map((s) => s.slowCallRate)),
  };
}
