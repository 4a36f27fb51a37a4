import { principalHeaderNames } from '../auth/principal.js';
import { resolve } from 'node:path';
import type { RedisClient } from '../redis.js';
import type { Logger } from 'pino';
import { createMemoryStore } from '../cache/memory-store.js';
import { createRedisStore } from '../cache/redis-store.js';
import type { CacheStore } from '../cache/store.js';
import { ConfigError, subgraphSettings, type GatewayConfig } from '../config.js';
import { BREAKER_STATE_VALUE, type GatewayMetrics } from '../observability/metrics.js';
import { BreakerRegistry, type BreakerSnapshot } from '../resilience/breaker.js';
import { createSharedBreakers, type SharedBreakers } from '../resilience/shared-breakers.js';
import { createBulkhead } from '../resilience/bulkhead.js';
import { InFlight } from '../resilience/dedupe.js';
import { isBreakerFailure } from './call-error.js';
import { createSubgraphFetch, type SubgraphFetch } from './fetch.js';
import { ResilientCaller } from './resilient-call.js';
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
  /** Breaker state and recent error rate of a subgraph, once it has been called or built. */
  snapshot(name: string): BreakerSnapshot | undefined;
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
      find: (name) => breakers.find(name),
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
  return {
    breakers,
    cache,
    caller(name) {
      let caller = callers.get(name);
      if (caller) return caller;
      const settings = subgraphSettings(config, name);
      const pool = createSubgraphFetch({ connectionsPerOrigin: settings.connections });
      pools.push(pool);
      const breaker = breakers.get(name, settings.breaker);
      metrics.breakerState.set({ subgraph: name }, BREAKER_STATE_VALUE[breaker.state]);
      caller = new ResilientCaller({
        name,
        settings,
        fetch: pool.fetch,
        breaker,
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
    snapshot: (name) => breakers.find(name)?.snapshot(),
    async close() {
      await shared?.close();
      breakers.shutdown();
      await Promise.all(pools.map((pool) => pool.close().catch(() => undefined)));
    },
  };
}
