import { principalHeaderNames } from '../auth/principal.js';
import { resolve } from 'node:path';
import { BatchedWrites } from '../cache/batched-writes.js';
import type { RedisClient } from '../redis/client.js';
import type { Logger } from 'pino';
import { createMemoryStore } from '../cache/memory-store.js';
import { createRedisStore } from '../cache/redis-store.js';
import { fallbackCachePurger, type CachePurger } from '../cache/purge.js';
import type { CacheStore } from '../cache/store.js';
import { ConfigError } from '../config-kit.js';
import { subgraphReplicas, subgraphSettings, type SubgraphCallSections, type SubgraphSections } from './config.js';
import { BREAKER_STATE_VALUE, type GatewayMetrics } from '../observability/metrics.js';
import type { UpstreamResponse } from '../upstream/attempt.js';
import type { BreakerRegistry, BreakerSnapshot, BreakerState, PinnedState } from '../upstream/breaker.js';
import { createBulkhead } from '../upstream/bulkhead.js';
import { createObservedBreakers } from '../upstream/observed-breakers.js';
import type { ReplicaSnapshot } from '../upstream/replica-pool.js';
import { combinedSnapshot, combinedState, ReplicaPools } from '../upstream/replica-pools.js';
import type { UpstreamRoute } from '../upstream/route.js';
import { InFlight } from './dedupe.js';
import { createSubgraphFetch, type SubgraphFetch } from './fetch.js';
import { HeldAnswers, purgeHeld } from './held-answers.js';
import { ResilientCaller } from './resilient-call.js';
import { cacheSchemaOf } from './cache-schema.js';
import { ResponseCache } from './response-cache.js';
import { loadStaticFallbacks, type StaticFallbacks } from './static-fallbacks.js';

/** The Redis namespace of the gateway's one cache store (fallback copies and response cache entries). */
export const FALLBACK_NAMESPACE = 'fallback:';
/** Where purges of the fallback copies leave their marks for the answers instances hold in memory. */
export const PURGE_MARKS_NAMESPACE = 'fallback-purges:';
/** How long fallback copies are held to be written to Redis together. */
const COPY_WRITE_WINDOW_MS = 10;

export interface SubgraphResilienceOptions {
  config: SubgraphCallSections;
  /** The gateway's Redis connection: the fallback cache lives there when present, else in memory. */
  redis?: RedisClient | undefined;
  metrics: GatewayMetrics;
  logger: Logger;
  /** This process's id: shared breaker messages carry it (`resilience.sharedBreakers`). */
  instanceId?: string | undefined;
  /** The static fallback files, already read ({@link loadStaticFallbackFiles}); read here when absent. */
  statics?: ReadonlyMap<string, StaticFallbacks> | undefined;
  /** The SDL of the supergraph served now (the response cache reads its keys and `@cacheControl` hints). */
  supergraphSdl?: (() => string | undefined) | undefined;
}

export interface SubgraphResilience {
  /** The breaker registry, shared with anything else that calls the same services (REST routes). */
  readonly breakers: BreakerRegistry;
  /** Pins a breaker (an operator's override), shared with every instance when shared breakers are on; false: no such breaker. */
  pinBreaker(name: string, state: PinnedState | undefined): Promise<boolean>;
  /** Whether a pin reaches the other instances. */
  readonly sharesPins: boolean;
  readonly cache: CacheStore;
  /** Purges the fallback copies: in the store, and the first answers callers hold in memory (with a mark for other instances). */
  readonly fallbackPurger: CachePurger;
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
  /**
   * Prepares the call settings of a new config (a reload): `commit` hands each subgraph's caller its
   * new timeout, retries and fallback TTL and reconfigures its breakers (see {@link Breaker.reconfigure}).
   */
  prepare(config: SubgraphCallSections): { commit(): void };
}

/**
 * Reads and checks every subgraph's static fallback file (relative paths from the working
 * directory). Throws a {@link ConfigError} naming the key, so a broken file stops start-up instead
 * of failing during an outage.
 */
export function loadStaticFallbackFiles(config: SubgraphSections): Map<string, StaticFallbacks> {
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

interface FallbackStore {
  cache: CacheStore;
  copyWrites?: BatchedWrites | undefined;
  heldAnswers?: HeldAnswers | undefined;
  fallbackPurger: CachePurger;
}

/**
 * The fallback cache: Redis or memory. On one Redis server its copies are written in batches, which
 * auto-pipelining sends together; a cluster client does not auto-pipeline (redis/client.ts), so
 * holding its writes would only delay them, and in memory a write costs nothing to send. With
 * Redis, calls' first answers are held in memory (HeldAnswers); with the in-memory store a write
 * costs no more than holding would.
 */
function fallbackStore(redis: RedisClient | undefined, config: SubgraphCallSections, metrics: GatewayMetrics): FallbackStore {
  if (!redis) {
    const cache = createMemoryStore({ maxBytes: config.resilience.cacheMaxBytes });
    return { cache, fallbackPurger: fallbackCachePurger(cache) };
  }
  const cache = createRedisStore({ redis, namespace: FALLBACK_NAMESPACE });
  const maxHeld = config.resilience.heldAnswersMaxBytes;
  // Outside the copies' namespace: no purge's scan deletes the marks.
  const marks = createRedisStore({ redis, namespace: PURGE_MARKS_NAMESPACE });
  const heldAnswers = maxHeld > 0 ? new HeldAnswers(maxHeld, marks) : undefined;
  if (heldAnswers) metrics.reportHeldAnswerBytes(() => heldAnswers.bytes);
  // Marked even when this instance holds nothing: the mark is for the instances that do.
  const fallbackPurger = fallbackCachePurger(cache, purgeHeld(marks, heldAnswers));
  return { cache, copyWrites: redis.isCluster ? undefined : new BatchedWrites(COPY_WRITE_WINDOW_MS), heldAnswers, fallbackPurger };
}

/**
 * Builds the per-subgraph resilience resources from the config: a connection pool, a breaker (or a
 * replica pool), a bulkhead and a dedupe table per subgraph, one fallback cache, and the static fallbacks.
 */
export function createSubgraphResilience(options: SubgraphResilienceOptions): SubgraphResilience {
  const { metrics, logger } = options;
  let config = options.config;
  // Whatever headers carry the principal (auth.propagation, renamable) are always part of the
  // identity, or renaming one would let one caller's copies serve another.
  const identityHeaders = [...new Set([...config.resilience.identityHeaders, ...principalHeaderNames(config.auth.propagation)])];
  const { enabled: shareBreakers, resyncIntervalMs, maxMessageAgeMs } = config.resilience.sharedBreakers;
  const instanceId = options.instanceId ?? 'unnamed';
  const observed = createObservedBreakers({
    metrics,
    logger,
    shared:
      shareBreakers && options.redis
        ? { redis: options.redis, keyPrefix: config.redis.keyPrefix, instanceId, resyncIntervalMs, maxMessageAgeMs }
        : undefined,
    // A replica's breaker: the subgraph's own series shows the replicas' breakers combined.
    onStateChange: (name) => {
      const pool = replicaPools.ofBreaker(name);
      if (pool) metrics.breakerState.set({ subgraph: pool.name }, BREAKER_STATE_VALUE[combinedState(pool)]);
    },
  });
  const { breakers, close: closeBreakers } = observed;
  const replicaPools = new ReplicaPools({ breakers, metrics, logger });
  const { cache, copyWrites, heldAnswers, fallbackPurger } = fallbackStore(options.redis, config, metrics);
  const statics = options.statics ?? loadStaticFallbackFiles(config);
  // One store, one byte budget: fresh hits and the stale-if-error copies live side by side.
  const responseCache = config.responseCache.enabled
    ? new ResponseCache({
        store: cache,
        config: config.responseCache,
        schema: () => cacheSchemaOf(options.supergraphSdl?.()),
        identityHeaders,
        readTimeoutMs: config.resilience.cacheReadTimeoutMs,
        metrics,
        logger,
      })
    : undefined;

  const connections: SubgraphFetch[] = [];
  const callers = new Map<string, ResilientCaller>();
  const createCaller = (name: string): ResilientCaller => {
    const settings = subgraphSettings(config, name);
    const connection = createSubgraphFetch({ connectionsPerOrigin: settings.connections, connectTimeoutMs: settings.connectTimeoutMs });
    connections.push(connection);
    const upstreams = subgraphReplicas(config, name);
    // A subgraph with replicas has a breaker per replica and none of its own.
    const route: UpstreamRoute = upstreams
      ? {
          replicas: replicaPools.create({
            name,
            breakerOwner: name,
            breakerSettings: settings.breaker,
            upstreams,
            balancing: settings.loadBalancing,
            probe: () => connection.fetch,
          }),
        }
      : { breaker: breakers.get(name, settings.breaker) };
    metrics.breakerState.set({ subgraph: name }, BREAKER_STATE_VALUE[route.breaker?.state ?? 'closed']);
    return new ResilientCaller({
      ...route,
      name,
      settings,
      fetch: connection.fetch,
      bulkhead: createBulkhead({ name, maxConcurrent: settings.bulkhead.maxConcurrent }),
      inFlight: new InFlight<UpstreamResponse>(),
      cache,
      copyWrites,
      heldAnswers,
      responseCache,
      statics: statics.get(name),
      identityHeaders,
      cacheReadTimeoutMs: config.resilience.cacheReadTimeoutMs,
      metrics,
      logger,
    });
  };
  const poolOf = (name: string) => replicaPools.get(name)?.pool;
  return {
    breakers,
    pinBreaker: (name, state) => observed.pin(name, state),
    sharesPins: observed.sharesPins,
    cache,
    fallbackPurger,
    caller(name) {
      let caller = callers.get(name);
      if (!caller) {
        caller = createCaller(name);
        callers.set(name, caller);
      }
      return caller;
    },
    snapshot: (name) => {
      const pool = poolOf(name);
      return pool ? combinedSnapshot(pool) : breakers.find(name)?.snapshot();
    },
    breakerState: (name) => {
      const pool = poolOf(name);
      return pool ? combinedState(pool) : breakers.find(name)?.state;
    },
    replicas: (name) => poolOf(name)?.snapshot(),
    replicasAvailable: (name) => poolOf(name)?.availableCount(),
    prepare(next) {
      const settings = new Map([...callers.keys()].map((name) => [name, subgraphSettings(next, name)]));
      return {
        commit() {
          config = next;
          for (const [name, caller] of callers) {
            const updated = settings.get(name);
            if (!updated) continue;
            caller.reconfigure(updated);
            const pool = poolOf(name);
            if (pool) for (const replica of pool.replicas) replica.breaker.reconfigure(updated.breaker);
            else breakers.find(name)?.reconfigure(updated.breaker);
          }
        },
      };
    },
    async close() {
      await copyWrites?.flush();
      replicaPools.close();
      await closeBreakers();
      await Promise.all(connections.map((connection) => connection.close().catch(() => undefined)));
    },
  };
}
