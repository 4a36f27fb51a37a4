import type { Redis } from 'ioredis';
import type { RedisClient } from '../redis/client.js';
import { TAG_PREFIX, type CacheStore } from './store.js';

export interface RedisStoreOptions {
  /** The gateway's connection (its own `keyPrefix` applies on top of {@link namespace}). */
  redis: RedisClient;
  /** Prepended to every key of this store, e.g. `fallback:`. */
  namespace: string;
}

/**
 * The shared {@link CacheStore}: one Redis string per entry, `<storedAt>\n<value>`, with a PX TTL,
 * so every gateway instance serves the same copies; a tag is a set of entry keys. Single-key
 * commands only, so it runs unchanged on Redis Cluster. Failures reject (the connection has no
 * offline queue); callers treat them as misses.
 */
export function createRedisStore(options: RedisStoreOptions): CacheStore {
  const { redis, namespace } = options;
  const deleteEach = async (keys: readonly string[]) =>
    (await Promise.all(keys.map((key) => redis.del(key)))).reduce((sum: number, n: number) => sum + n, 0);
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
    async has(key) {
      return (await redis.exists(namespace + key)) === 1;
    },
    async set(key, value, ttlMs) {
      await redis.set(namespace + key, `${Date.now()}\n${value}`, 'PX', Math.max(1, Math.round(ttlMs)));
    },
    async tag(tags, key, ttlMs) {
      const ttl = Math.max(1, Math.round(ttlMs));
      await Promise.all(
        tags.map(async (tag) => {
          const tagKey = namespace + TAG_PREFIX + tag;
          await redis.sadd(tagKey, namespace + key);
          // NX sets a TTL on a new index, GT extends it: the index outlives the entries it lists.
          await redis.pexpire(tagKey, ttl, 'NX');
          await redis.pexpire(tagKey, ttl, 'GT');
        }),
      );
    },
    async purgeTags(tags) {
      let deleted = 0;
      for (const tag of tags) {
        const tagKey = namespace + TAG_PREFIX + tag;
        // Members are stored without the connection's keyPrefix, which `del` adds back.
        deleted += await deleteEach(await redis.smembers(tagKey));
        await redis.del(tagKey);
      }
      return deleted;
    },
    async purgeMatching(pattern) {
      const prefix = redis.options.keyPrefix ?? '';
      const match = (prefix + namespace + pattern).replace(/[?[\]\\]/g, '\\$&');
      // A cluster client knows its masters once connected: one command first.
      if ('nodes' in redis) await redis.ping();
      const nodes: Redis[] = 'nodes' in redis ? redis.nodes('master') : [redis];
      let deleted = 0;
      for (const node of nodes) {
        let cursor = '0';
        do {
          const [next, keys] = await node.scan(cursor, 'MATCH', match, 'COUNT', 500);
          cursor = next;
          const own = keys.map((key) => key.slice(prefix.length));
          deleted += await deleteEach(own.filter((key) => !key.startsWith(namespace + TAG_PREFIX)));
          await deleteEach(own.filter((key) => key.startsWith(namespace + TAG_PREFIX)));
        } while (cursor !== '0');
      }
      return deleted;
    },
  };
}
