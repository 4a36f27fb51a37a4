import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { fallbackCachePurger } from '../gateway/src/cache/purge.js';
import { createRedisStore } from '../gateway/src/cache/redis-store.js';
import { HeldAnswers, MAX_HELD_MS, purgeHeld } from '../gateway/src/subgraph/held-answers.js';
import { FALLBACK_NAMESPACE, PURGE_MARKS_NAMESPACE } from '../gateway/src/subgraph/resilience.js';
import { connectTestRedis, TEST_REDIS_URL } from './helpers/redis.js';

const TTL = 60_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One instance's fallback purger over a Redis, wired as the gateway wires it; `held` undefined: an instance that holds nothing. */
function instance(client: Redis, held: HeldAnswers | undefined) {
  const copies = createRedisStore({ redis: client, namespace: FALLBACK_NAMESPACE });
  const marks = createRedisStore({ redis: client, namespace: PURGE_MARKS_NAMESPACE });
  return { purger: fallbackCachePurger(copies, purgeHeld(marks, held)), copies };
}

/** A held answer is servable when no purge of its scope is at or after its time. */
async function servable(held: HeldAnswers, key: string, subgraph: string): Promise<boolean> {
  const answer = held.find(key, TTL);
  if (!answer) return false;
  const purgedAt = await held.purgedAt(subgraph, 1_000);
  return purgedAt === undefined || purgedAt < answer.at;
}

describe('first answers held in memory', () => {
  it('are found until their TTL (and never past the purge marks last), dropped when written, and bounded (least recently used first)', () => {
    const marks = createRedisStore({ redis: new Redis(TEST_REDIS_URL, { lazyConnect: true }), namespace: PURGE_MARKS_NAMESPACE });
    // Each entry below costs 100 characters + its 10-character key + 128 of overhead: two fit.
    const held = new HeldAnswers(500, marks);
    held.hold('products:a', 'x'.repeat(100), 1_000);
    expect(held.bytes).toBe(238);
    expect(held.find('products:a', TTL, 1_000 + TTL - 1)?.body).toHaveLength(100);
    expect(held.find('products:a', TTL, 1_000 + TTL)).toBeUndefined();
    expect(held.holds('products:a')).toBe(false); // an expired one is gone
    held.hold('products:a', 'y', 1_000);
    expect(held.find('products:a', 10 * MAX_HELD_MS, 1_000 + MAX_HELD_MS)).toBeUndefined();

    held.hold('products:a', 'a'.repeat(100), 1_000);
    held.hold('products:b', 'b'.repeat(100), 1_000);
    held.find('products:a', TTL, 1_000); // a is used: b is the least recently used
    held.hold('products:c', 'c'.repeat(100), 1_000);
    expect(held.holds('products:b')).toBe(false);
    expect(held.find('products:a', TTL, 1_000)?.body).toBe('a'.repeat(100));
    held.drop('products:a');
    expect(held.holds('products:a')).toBe(false);
    // One answer larger than the whole budget is not held at all.
    held.hold('products:d', 'd'.repeat(400), 1_000);
    expect(held.holds('products:d')).toBe(false);
    expect(held.find('products:c', TTL, 1_000)?.body).toBe('c'.repeat(100));
  });

  it('are forgotten by a purge on their instance, and not served after a purge on another, even one that holds nothing', async () => {
    const redis = await connectTestRedis('held-answers');
    try {
      const marks = createRedisStore({ redis: redis.client, namespace: PURGE_MARKS_NAMESPACE });
      const heldA = new HeldAnswers(1_000_000, marks);
      const a = instance(redis.client, heldA);
      const b = instance(redis.client, undefined); // resilience.heldAnswersMaxBytes: 0
      heldA.hold('products:1', '{"data":1}');
      heldA.hold('users:1', '{"data":2}');
      heldA.hold('users:2', '{"data":3}');
      await a.copies.set('users:3', '{"data":4}', TTL);
      // A purge of one subgraph on instance A: its held answers and copies of that subgraph go, all counted.
      expect(await a.purger.purge({ subgraph: 'users' })).toBe(3);
      expect(heldA.holds('users:1') || heldA.holds('users:2')).toBe(false);
      expect(await servable(heldA, 'products:1', 'products')).toBe(true);

      // A purge of products on instance B, which holds nothing: A's answer held before it is not servable.
      await sleep(5);
      expect(await b.purger.purge({ subgraph: 'products' })).toBe(0);
      expect(await redis.client.exists(`${PURGE_MARKS_NAMESPACE}subgraph:products`)).toBe(1);
      expect(await servable(heldA, 'products:1', 'products')).toBe(false);

      // One held after the purge is servable; a purge of everything covers every subgraph and keeps the other marks.
      await sleep(5);
      heldA.hold('products:2', '{"data":5}');
      heldA.hold('orders:1', '{"data":6}');
      expect(await servable(heldA, 'products:2', 'products')).toBe(true);
      await sleep(5);
      expect(await b.purger.purge({})).toBe(0);
      expect(await redis.client.exists(`${PURGE_MARKS_NAMESPACE}all`, `${PURGE_MARKS_NAMESPACE}subgraph:products`)).toBe(2);
      expect(await servable(heldA, 'orders:1', 'orders')).toBe(false);
      expect(await servable(heldA, 'products:2', 'products')).toBe(false);
    } finally {
      await redis.close();
    }
  });

  it('are served when the store cannot say whether they were purged', async () => {
    const down = new Redis(TEST_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false });
    down.on('error', () => undefined);
    const held = new HeldAnswers(1_000, createRedisStore({ redis: down, namespace: PURGE_MARKS_NAMESPACE }));
    held.hold('products:1', '{"data":1}');
    // Never connected, no offline queue: every command is refused, as with Redis down.
    expect(await held.purgedAt('products', 200)).toBeUndefined();
    expect(await servable(held, 'products:1', 'products')).toBe(true);
  });
});
