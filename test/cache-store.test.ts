import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryStore } from '../gateway/src/cache/memory-store.js';
import { createRedisStore } from '../gateway/src/cache/redis-store.js';
import type { CacheStore } from '../gateway/src/cache/store.js';
import { describeCacheStoreContract } from './helpers/contracts/cache-store.js';
import { connectTestRedis, type TestRedis } from './helpers/redis.js';

let redis: TestRedis;
beforeAll(async () => {
  redis = await connectTestRedis('cache');
});
afterAll(async () => {
  await redis?.close();
});

/** One contract (test/helpers/contracts/cache-store.ts), every store; a Redis Cluster runs it in test/redis-cluster.test.ts. */
const implementations: [string, () => CacheStore][] = [
  ['memory', () => createMemoryStore({ maxBytes: 1_000_000 })],
  ['redis', () => createRedisStore({ redis: redis.client, namespace: 'fallback:' })],
];

for (const [kind, make] of implementations) describeCacheStoreContract(kind, make);

describe('memory store', () => {
  it('stays under its byte limit by evicting the least recently used entries', async () => {
    const store = createMemoryStore({ maxBytes: 10_000 });
    const value = 'x'.repeat(1_000); // ~2 KB each as UTF-16
    for (let i = 0; i < 20; i++) await store.set(`k${i}`, value, 60_000);
    const kept = (await Promise.all(Array.from({ length: 20 }, (_, i) => store.get(`k${i}`)))).filter(Boolean);
    expect(kept.length).toBeGreaterThan(0);
    expect(kept.length).toBeLessThanOrEqual(5);
    expect(await store.get('k19')).toBeDefined();
    expect(await store.get('k0')).toBeUndefined();
  });

  it('does not keep an entry larger than the whole cache', async () => {
    const store = createMemoryStore({ maxBytes: 1_000 });
    await store.set('small', 'ok', 60_000);
    await store.set('huge', 'x'.repeat(5_000), 60_000);
    expect(await store.get('huge')).toBeUndefined();
    expect((await store.get('small'))?.value).toBe('ok');
  });
});

describe('redis store', () => {
  it('writes one key per entry under its namespace, with a TTL', async () => {
    const store = createRedisStore({ redis: redis.client, namespace: 'fallback:' });
    await store.set('products:abc', 'v', 30_000);
    const keys = await redis.keys();
    expect(keys).toContain(`${redis.prefix}fallback:products:abc`);
    const ttl = await redis.client.pttl('fallback:products:abc');
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(30_000);
  });

  it('rejects (instead of hanging) when Redis is unreachable', async () => {
    const { Redis } = await import('ioredis');
    const dead = new Redis('redis://127.0.0.1:1', {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    dead.on('error', () => undefined);
    const store = createRedisStore({ redis: dead, namespace: 'fallback:' });
    await expect(store.get('x')).rejects.toThrow();
    await expect(store.set('x', 'v', 1_000)).rejects.toThrow();
    dead.disconnect();
  });
});
