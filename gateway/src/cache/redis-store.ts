import { Cluster } from 'ioredis';
import type { RedisClient } from '../redis/client.js';
import type { CacheStore } from './store.js';

export interface RedisStoreOptions {
  /** The gateway's connection (its own `keyPrefix` applies on top of {@link namespace}). */
  redis: RedisClient;
  /** Prepended to every key of this store, e.g. `fallback:`. */
  namespace: string;
}

/**
 * The shared {@link CacheStore}: one Redis string per entry, `<storedAt>\n<value>`, with a PX TTL,
 * so every gateway instance serves the same copies. Single-key commands only, so it runs unchanged
 * on Redis Cluster. Failures reject (the connection has no offline queue); callers treat them as misses.
 */
export function createRedisStore(options: RedisStoreOptions): CacheStore {
  const { redis, namespace } = options;
  return {
    kind: 'redis',
    async get(key) {
      const raw = await redis.get(namespace + key);
      if (raw === null) return undefined;
      const newline = raw.indexOf('\n');
      const storedAt = Number(raw.slice(0, newline));
      if (newline < 0 || !Number.isFinite(storedAt)) return undefined;
      return { storedAt, value: raw.slice(newline + 1) };
    },
    async set(key, value, ttlMs) {
      await redis.set(namespace + key, `${Date.now()}\n${value}`, 'PX', Math.max(1, Math.round(ttlMs)));
    },
    purge: (prefix) => purgeByPrefix(redis, namespace + prefix),
  };
}

/**
 * SCANs every primary (each node of a cluster) for the prefixed keys and UNLINKs them one by one
 * (single-key commands, any slot). SCAN patterns are not prefixed by ioredis, the UNLINKs are: the
 * connection's `keyPrefix` is added to the pattern and taken off the keys found.
 */
async function purgeByPrefix(redis: RedisClient, prefix: string): Promise<number> {
  const keyPrefix = redis.options.keyPrefix ?? '';
  const pattern = `${escapeGlob(keyPrefix + prefix)}*`;
  const nodes = redis instanceof Cluster ? redis.nodes('master') : [redis];
  let removed = 0;
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
      cursor = next;
      for (const key of keys) removed += await redis.unlink(key.slice(keyPrefix.length));
    } while (cursor !== '0');
  }
  return removed;
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, (char) => `\\${char}`);
}
