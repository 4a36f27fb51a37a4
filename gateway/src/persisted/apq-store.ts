import type { RedisClient } from '../redis/client.js';
import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import type { GatewayMetrics } from '../observability/metrics.js';
import { withTimeout } from '../cache/timeout.js';

export interface ApqStoreOptions {
  /** Byte limit of the in-memory level (documents counted as UTF-16). */
  cacheMaxBytes: number;
  /** How long a registration lives, in memory and in Redis. */
  ttlSeconds: number;
  /** The gateway's Redis connection; undefined: memory only. */
  redis?: RedisClient | undefined;
  /** Prefix of this store's keys, after the connection's own `keyPrefix`. @default 'apq:' */
  keyPrefix?: string;
  /** Longest a Redis lookup may take before it counts as a miss. @default 200 */
  storeTimeoutMs?: number;
  logger: Logger;
  metrics?: GatewayMetrics | undefined;
}

/** Where a lookup found the document. */
export type ApqLookup = { query: string; from: 'memory' | 'redis' } | { query: undefined; storeError: boolean };

/**
 * The store of automatic persisted queries: hash → document. Always an in-memory LRU bounded by
 * bytes; with Redis configured, Redis behind it, so that a document registered on one instance is
 * found on every other. The memory level can never be stale: a key is the SHA-256 of its value.
 *
 * Redis failures never fail a request: a slow or failed lookup is a miss (the client then sends the
 * document again, as APQ allows), and a failed write is logged. Registration is idempotent.
 */
export class ApqStore {
  private readonly memory: LRUCache<string, string>;
  private readonly redis: RedisClient | undefined;
  private readonly keyPrefix: string;
  private readonly timeoutMs: number;
  private readonly ttlSeconds: number;

  constructor(private readonly options: ApqStoreOptions) {
    this.memory = new LRUCache({
      maxSize: options.cacheMaxBytes,
      maxEntrySize: options.cacheMaxBytes,
      sizeCalculation: (value, key) => Math.max(1, (value.length + key.length) * 2),
      ttl: options.ttlSeconds * 1000,
      ttlAutopurge: false,
    });
    this.redis = options.redis;
    this.keyPrefix = options.keyPrefix ?? 'apq:';
    this.timeoutMs = options.storeTimeoutMs ?? 200;
    this.ttlSeconds = options.ttlSeconds;
  }

  get kind(): 'memory' | 'redis' {
    return this.redis ? 'redis' : 'memory';
  }

  async get(hash: string): Promise<ApqLookup> {
    const local = this.memory.get(hash);
    if (local !== undefined) return { query: local, from: 'memory' };
    if (!this.redis) return { query: undefined, storeError: false };
    try {
      const found = await withTimeout(this.redis.get(this.keyPrefix + hash), this.timeoutMs);
      if (found === null) return { query: undefined, storeError: false };
      this.memory.set(hash, found);
      return { query: found, from: 'redis' };
    } catch (error) {
      this.options.metrics?.persistedQueries.inc({ kind: 'apq', result: 'store_error' });
      this.options.logger.warn({ err: (error as Error).message }, 'APQ lookup in Redis failed; answered as a miss');
      return { query: undefined, storeError: true };
    }
  }

  /** Registers a document (the caller has checked that `hash` is its SHA-256); never rejects. */
  async set(hash: string, query: string): Promise<void> {
    this.memory.set(hash, query);
    if (!this.redis) return;
    try {
      // NX: a registration is immutable (the key is the value's hash); EX keeps the store bounded.
      await withTimeout(this.redis.set(this.keyPrefix + hash, query, 'EX', this.ttlSeconds, 'NX'), this.timeoutMs);
    } catch (error) {
      this.options.metrics?.persistedQueries.inc({ kind: 'apq', result: 'store_error' });
      this.options.logger.warn({ err: (error as Error).message }, 'APQ registration in Redis failed; kept in this instance only');
    }
  }
}
