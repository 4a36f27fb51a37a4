import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { fallbackCachePurger } from '../gateway/src/cache/purge.js';
import { createRedisStore } from '../gateway/src/cache/redis-store.js';
import { HeldAnswers, markPurged } from '../gateway/src/subgraph/held-answers.js';
import { connectTestRedis, TEST_REDIS_URL } from './helpers/redis.js';

const TTL = 60_000;

/** Two instances' held answers over one Redis store, each with the purger the gateway builds. */
function instances(client: Redis) {
  const store = createRedisStore({ redis: client, namespace: 'fallback:' });
  const one = () => {
    const held = new HeldAnswers(1_000_000, store);
    const purger = fallbackCachePurger(store, async (subgraph) => {
      await markPurged(store, subgraph);
      return held.forget(subgraph);
    });
    return { held, purger };
  };
  return { store, a: one(), b: one() };
}

describe('first answers held in memory', () => {
  it('are served until their TTL, dropped when written, and bounded by bytes (least recently used first)', () => {
    const store = createRedisStore({ redis: new Redis(TEST_REDIS_URL, { lazyConnect: true }), namespace: 'fallback:' });
    const held = new HeldAnswers(250, store);
    held.hold('products:a', 'x'.repeat(100), 1_000);
    expect(held.peek('products:a', TTL, 1_000 + TTL - 1)?.body).toHaveLength(100);
    expect(held.peek('products:a', TTL, 1_000 + TTL)).toBeUndefined();
    expect(held.peek('products:a', TTL, 1_000)).toBeUndefined(); // an expired one is gone

    held.hold('products:a', 'a'.repeat(100), 1_000);
    held.hold('products:b', 'b'.repeat(100), 1_000);
    expect(held.bytes).toBe(2 * (100 + 'products:a'.length));
    held.peek('products:a', TTL, 1_000); // a is used: b is the least recently used
    held.hold('products:c', 'c'.repeat(100), 1_000);
    expect(held.peek('products:b', TTL, 1_000)).toBeUndefined();
    expect(held.peek('products:a', TTL, 1_000)?.body).toBe('a'.repeat(100));
    held.drop('products:a');
    expect(held.peek('products:a', TTL, 1_000)).toBeUndefined();
    // One answer larger than the whole budget is not held at all.
    held.hold('products:d', 'd'.repeat(300), 1_000);
    expect(held.peek('products:d', TTL, 1_000)).toBeUndefined();
    expect(held.peek('products:c', TTL, 1_000)?.body).toBe('c'.repeat(100));
  });

  it("are forgotten by a purge on their instance, and not served after a purge on another (the store's mark)", async () => {
    const redis = await connectTestRedis('held-answers');
    try {
      const { a, b } = instances(redis.client);
      a.held.hold('products:1', '{"data":1}');
      a.held.hold('users:1', '{"data":2}');
      a.held.hold('users:2', '{"data":3}');
      // A purge of one subgraph on instance A: its held answers of that subgraph go, and are counted.
      expect(await a.purger.purge({ subgraph: 'users' })).toBe(2);
      expect(a.held.peek('users:1', TTL)).toBeUndefined();
      const product = a.held.peek('products:1', TTL);
      expect(product).toBeDefined();
      expect(await a.held.servable('products:1', 'products', product!, 1_000)).toBe(true);

      // A purge on instance B, of products: A's answer held before it is not served, and forgotten.
      await new Promise((resolve) => setTimeout(resolve, 5));
      expect(await b.purger.purge({ subgraph: 'products' })).toBe(0);
      expect(await redis.client.exists('fallback:!purged:products')).toBe(1);
      expect(await a.held.servable('products:1', 'products', product!, 1_000)).toBe(false);
      expect(a.held.peek('products:1', TTL)).toBeUndefined();

      // An answer held after the purge is served; a purge of everything on B covers every subgraph.
      await new Promise((resolve) => setTimeout(resolve, 5));
      a.held.hold('products:2', '{"data":4}');
      a.held.hold('orders:1', '{"data":5}');
      const later = a.held.peek('products:2', TTL)!;
      expect(await a.held.servable('products:2', 'products', later, 1_000)).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 5));
      await b.purger.purge({});
      expect(await redis.client.exists('fallback:!purged')).toBe(1);
      expect(await a.held.servable('orders:1', 'orders', a.held.peek('orders:1', TTL)!, 1_000)).toBe(false);
    } finally {
      await redis.close();
    }
  });

  it('are served when the store cannot say whether they were purged', async () => {
    const closed = new Redis(TEST_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false });
    closed.on('error', () => undefined);
    const held = new HeldAnswers(1_000, createRedisStore({ redis: closed, namespace: 'fallback:' }));
    held.hold('products:1', '{"data":1}');
    // Never connected, no offline queue: every command is refused, as with Redis down.
    expect(await held.servable('products:1', 'products', held.peek('products:1', TTL)!, 200)).toBe(true);
  });
});
