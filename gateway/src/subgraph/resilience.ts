import { principalHeaderNames } from '../auth/principal.js';
import { resolve } from 'node:path';
import type { RedisClient } from '../redis/client.js';
import type { Logger } from 'pino';
import { createMemoryStore } from '../cache/memory-store.js';
import { createRedisStore } from '../cache/redis-store.js';
import type { CacheStore } from '../cache/store.js';
import { ConfigError } from '../config-kit.js';
import type { GatewayConfig } from '../config/index.js';
import { subgraphReplicas, subgraphSettings } from './config.js';
import { BREAKER_STATE_VALUE, type GatewayMetrics } from '../observability/metrics.js';
import { BreakerRegistry, type BreakerSnapshot, type BreakerState } from '../resilience/breaker.js';
import { createSharedBreakers, type SharedBreakers } from '../resilience/shared-breakers.js';
import { createBulkhead } from '../resilience/bulkhead.js';
import { InFlight } from '../resilience/dedupe.js';
import { startHealthChecks, type HealthChecker } from '../upstream/health-check.js';
import { ReplicaPool, replicaBreakerName, type ReplicaSnapshot } from '../upstream/replica-pool.js';
import { isBreakerFailure } from './call-error.js';
import { createSubgraphFetch, type SubgraphFetch } from './fetch.js';
import { ResilientCaller, type SubgraphRoute } from './resilient-call.js';
import { loadStaticFallbacks, type StaticFallbacks } from './static-fallbacks.js';
import type { UpstreamResponse } from './upstream.js';

export interface SubgraphResilienceOptions {
  config: GatewayConfig;
  /** The gateway's Redis connection: the fallback cache lives there when present, else in memory. */
  redis?: RedisClient | undefined;
  metrics: GatewayMetrics;
  logger: Logger;
  /** This process's id: shared breaker messages carry it (`resilience.sharedBreakers`). */
  instanceId?: string | undefined;
  /** The static fallback files, already read ({@link loadStaticFallbackFiles}); read here when absent. */
  statics?: ReadonlyMap<string, StaticFallbacks> | undefined;
}

export interface SubgraphResilience {
  /** The breaker registry, shared with anything else that calls the same services (REST routes). */
  readonly breakers: BreakerRegistry;
  readonly cache: CacheStore;
  /** The caller of one subgraph, created on first use and kept across supergraph reloads. */
  caller(name: string): ResilientCaller;
  /**
   * Breaker state and recent error rate of a subgraph, once it has been called or built. For a
   * subgraph with replicas, the sum over the replicas' breakers: `closed` while any is closed,
   * `half_open` while any is half-open, `open` only when all are.
   */
  snapshot(name: string): BreakerSnapshot | undefined;
  /** Just the breaker state of {@link snapshot} (combined over replicas), cheap enough for every request. */
  breakerState(name: string): BreakerState | undefined;
  /** Each replica's state, for a subgraph with two or more `upstreams` (once its caller is built). */
  replicas(name: string): ReplicaSnapshot[] | undefined;
  /** How many of those replicas take calls now (healthy, breaker not open). */
  replicasAvailable(name: string): number | undefined;
  /** Closes every subgraph's connection pool and stops the breakers. */
  close(): Promise<void>;
}

/**
 * Reads and checks every subgraph's static fallback file (relative paths from the working
 * directory). Throws a {@link ConfigError} naming the key, so a broken file stops start-up instead
 * of failing during an outage.
 */
export function loadStaticFallbackFiles(config: GatewayConfig): Map<string, StaticFallbacks> {
  const statics = new Map<string, StaticFallbacks>();
  for (const name of Object.keys(config.subgraphs)) {
    const file = subgraphSettings(config, name).fallback.static;
    if (!file) continue;
    try {
      statics.set(name, loadStaticFallbacks(resolve(file)));
    } catch (error) {
      throw new ConfigError(`subgraphs.${name}.fallback.static: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return statics;
}

/**
 * Builds the per-subgraph resilience resources from the config: a connection pool, a breaker, a
 * bulkhead and a dedupe table per subgraph, one fallback cache, and the static fallbacks.
 */
export function createSubgraphResilience(options: SubgraphResilienceOptions): SubgraphResilience {
  const { config, metrics, logger } = options;
  // Whatever headers carry the principal (auth.propagation, renamable) are always part of the
  // identity, or renaming one would let one caller's copies serve another.
  const identityHeaders = [...new Set([...config.resilience.identityHeaders, ...principalHeaderNames(config.auth.propagation)])];
  let shared: SharedBreakers | undefined;
  const breakers = new BreakerRegistry({
    isFailure: isBreakerFailure,
    onStateChange: (name, state, cause) => {
      metrics.breakerState.set({ subgraph: name }, BREAKER_STATE_VALUE[state]);
      // A replica's breaker: the subgraph's own series shows the replicas' breakers combined.
      const at = name.indexOf('@');
      const pool = at > 0 ? replicaPools.get(name.slice(0, at)) : undefined;
      if (pool) metrics.breakerState.set({ subgraph: pool.name }, BREAKER_STATE_VALUE[combinedState(pool)]);
      metrics.breakerTransitions.inc({ breaker: name, state, cause: cause === 'forced' ? 'remote' : 'local' });
      const log = state === 'closed' ? logger.info.bind(logger) : logger.warn.bind(logger);
      log({ subgraph: name, breaker: state, cause: cause === 'forced' ? 'remote' : 'local' }, `circuit breaker ${state.replace('_', '-')}`);
      const breaker = breakers.find(name);
      if (breaker) shared?.onStateChange(breaker, state, cause);
    },
    onCreate: (breaker) => shared?.track(breaker),
  });
  if (config.resilience.sharedBreakers.enabled && options.redis) {
    shared = createSharedBreakers({
      redis: options.redis,
      keyPrefix: config.redis.keyPrefix,
      instanceId: options.instanceId ?? 'unnamed',
      resyncIntervalMs: config.resilience.sharedBreakers.resyncIntervalMs,
      maxMessageAgeMs: config.resilience.sharedBreakers.maxMessageAgeMs,
      metrics,
      logger: logger.child({ component: 'shared-breakers' }),
    });
  }
  const cache: CacheStore = options.redis
    ? createRedisStore({ redis: options.redis, namespace: 'fallback:' })
    : createMemoryStore({ maxBytes: config.resilience.cacheMaxBytes });

  const statics = options.statics ?? loadStaticFallbackFiles(config);

  const pools: SubgraphFetch[] = [];
  const callers = new Map<string, ResilientCaller>();
  const replicaPools = new Map<string, ReplicaPool>();
  const checkers: HealthChecker[] = [];
  const refreshStates = () => {
    for (const pool of replicaPools.values()) pool.publishStates();
  };
  metrics.beforeReplicaStateCollect.add(refreshStates);
  return {
    breakers,
    cache,
    caller(name) {
      let caller = callers.get(name);
      if (caller) return caller;
      const settings = subgraphSettings(config, name);
      const subgraphPool = createSubgraphFetch({ connectionsPerOrigin: settings.connections });
      pools.push(subgraphPool);
      const upstreams = subgraphReplicas(config, name);
      // A subgraph with replicas has a breaker per replica and none of its own.
      let route: SubgraphRoute;
      if (upstreams) {
        const balancing = settings.loadBalancing;
        const pool = new ReplicaPool({
          name,
          upstreams,
          strategy: balancing.strategy,
          ejection: balancing.ejection,
          // Named by URL, so every gateway instance (and a shared breaker store) means the same replica by the same name.
          breakerFor: (url) => breakers.get(replicaBreakerName(name, url), settings.breaker),
          isFailure: isBreakerFailure,
          metrics,
          logger,
        });
        replicaPools.set(name, pool);
        if (balancing.healthCheck.enabled) {
          checkers.push(startHealthChecks({ pool, fetch: subgraphPool.fetch, settings: balancing.healthCheck, logger }));
        }
        route = { replicas: { pool, hashHeader: balancing.strategy === 'consistent_hash' ? balancing.hashHeader : undefined } };
      } else {
        route = { breaker: breakers.get(name, settings.breaker) };
      }
      metrics.breakerState.set({ subgraph: name }, BREAKER_STATE_VALUE[route.breaker?.state ?? 'closed']);
      caller = new ResilientCaller({
        ...route,
        name,
        settings,
        fetch: subgraphPool.fetch,
        bulkhead: createBulkhead({ name, maxConcurrent: settings.bulkhead.maxConcurrent }),
        inFlight: new InFlight<UpstreamResponse>(),
        cache,
        statics: statics.get(name),
        identityHeaders: identityHeaders,
        cacheReadTimeoutMs: config.resilience.cacheReadTimeoutMs,
        metrics,
        logger,
      });
      callers.set(name, caller);
      return caller;
    },
    snapshot: (name) => {
      const pool = replicaPools.get(name);
      return pool ? combinedSnapshot(pool) : breakers.find(name)?.snapshot();
    },
    breakerState: (name) => {
      const pool = replicaPools.get(name);
      return pool ? combinedState(pool) : breakers.find(name)?.state;
    },
    replicas: (name) => replicaPools.get(name)?.snapshot(),
    replicasAvailable: (name) => replicaPools.get(name)?.availableCount(),
    async close() {
      for (const checker of checkers) checker.stop();
      metrics.beforeReplicaStateCollect.delete(refreshStates);
      await shared?.close();
      breakers.shutdown();
      await Promise.all(pools.map((pool) => pool.close().catch(() => undefined)));
    },
  };
}

/** `closed` while any replica's breaker is closed, `half_open` while any is half-open, `open` only when all are. */
function combinedState(pool: ReplicaPool): BreakerState {
  const states = pool.replicas.map((replica) => replica.breaker.state);
  return states.includes('closed') ? 'closed' : states.includes('half_open') ? 'half_open' : 'open';
}

function combinedSnapshot(pool: ReplicaPool): BreakerSnapshot | undefined {
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
  };
}
