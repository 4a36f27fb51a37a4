import { randomBytes } from 'node:crypto';
import { getHeapStatistics } from 'node:v8';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, describe, expect, it, vi } from 'vitest';
import type { BudgetStore } from '../gateway/src/rate-limit/budget.js';
import { FailoverBudgetStore } from '../gateway/src/rate-limit/failover-store.js';
import { MemoryBudgetStore } from '../gateway/src/rate-limit/memory-store.js';
import { RedisBudgetStore } from '../gateway/src/rate-limit/redis-store.js';
import { closeRedis, createRedis } from '../gateway/src/redis/client.js';
import { bucket, describeBudgetStoreContract, newClient, window } from './helpers/contracts/budget-store.js';

/**
 * One contract (test/helpers/contracts/budget-store.ts), every store: Redis and memory here, a
 * Redis Cluster in test/redis-cluster.test.ts.
 */
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const PREFIX = `test:budget:${process.pid}:${randomBytes(3).toString('hex')}:`;
const redis = new Redis(REDIS_URL, { keyPrefix: PREFIX });

afterAll(async () => {
  // Delete only what this file made.
  const keys = await redis.keys(`${PREFIX}*`);
  if (keys.length) await redis.del(...keys.map((k) => k.slice(PREFIX.length)));
  await redis.quit();
});

const STORES: [string, () => BudgetStore][] = [
  ['redis', () => new RedisBudgetStore(redis)],
  ['memory', () => new MemoryBudgetStore()],
  [
    'failover (redis, memory fallback)',
    () =>
      new FailoverBudgetStore(new RedisBudgetStore(redis), {
        timeoutMs: 2_000,
        retryPrimaryAfterMs: 1_000,
        fallback: new MemoryBudgetStore(),
        logger: pino({ level: 'silent' }),
      }),
  ],
];

for (const [name, makeStore] of STORES) describeBudgetStoreContract(name, makeStore);

describe('redis budget keys', () => {
  it('carry the client as a hash tag and expire once the limit would be full again', async () => {
    const client = newClient();
    await new RedisBudgetStore(redis).charge(client, 10, [bucket(100, 5, 'daily')]);
    const key = `rl:{${client}}:tb:daily`;
    const ttl = await redis.pttl(key);
    // 10 points at 5/s are back in 2 s; the key lives that long plus a second.
    expect(ttl).toBeGreaterThan(2_000);
    expect(ttl).toBeLessThanOrEqual(3_000);
    expect(await redis.hget(key, 'tokens')).toBe('90');
  });

  it('escape braces in client ids, so a client cannot move its keys to another hash slot', async () => {
    const client = `evil}{${newClient()}`;
    await new RedisBudgetStore(redis).charge(client, 1, [bucket(10, 1, 'b')]);
    const [key] = await redis.keys(`${PREFIX}rl:*${client.slice(6)}*`);
    expect(key?.slice(PREFIX.length)).toBe(`rl:{evil%7D%7B${client.slice(6)}}:tb:b`);
  });
});

describe('the in-memory store', () => {
  it('holds no memory for its bound until it is used (the fail-open fallback of a Redis store sits idle)', async () => {
    const before = getHeapStatistics().used_heap_size;
    // 30 idle stores of 100,000 entries: preallocated, they would hold about 100 MB.
    const idle = Array.from({ length: 30 }, () => new MemoryBudgetStore({ maxEntries: 100_000 }));
    const grown = getHeapStatistics().used_heap_size - before;
    expect(grown).toBeLessThan(20 * 2 ** 20);
    // Each still works once used.
    const client = newClient();
    const charged = await idle[0]?.charge(client, 10, [bucket(100, 5, 'b')]);
    expect(charged?.allowed).toBe(true);
    expect(charged?.limits[0]?.remaining).toBe(90);
  });
});

describe("the gateway's Redis connection", () => {
  it('sends the commands of one tick together (auto-pipelining), and concurrent charges stay exact', async () => {
    const client = createRedis(
      { url: REDIS_URL, keyPrefix: PREFIX, connectTimeoutMs: 2_000, commandTimeoutMs: 2_000, connectionName: 'test-autopipeline' },
      pino({ level: 'silent' }),
    );
    try {
      if (client.status !== 'ready') await new Promise((resolve) => client.once('ready', resolve));
      const store = new RedisBudgetStore(client);
      const who = newClient();
      // 40 requests of 1 point against a bucket of 25 that refills nothing in the test's time.
      const charges = Array.from({ length: 40 }, () => store.charge(who, 1, [bucket(25, 0.0001, 'burst')]));
      expect((client as Redis).autoPipelineQueueSize).toBe(40);
      const results = await Promise.all(charges);
      expect(results.filter((r) => r.allowed)).toHaveLength(25);
      expect((await store.peek(who, [bucket(25, 0.0001, 'burst')]))[0]?.remaining).toBeLessThan(1);
    } finally {
      await closeRedis(client);
    }
  });
});

describe('refunds held by the Redis store (rateLimit.refundDelayMs)', () => {
  // A bucket that refills too slowly to move in a test, and a window: both exact.
  const limits = [bucket(100, 0.0001, 'held-b'), window(100, 3600, 'held-w')];
  const remaining = async (client: string) => (await new RedisBudgetStore(redis).peek(client, limits)).map((s) => Math.round(s.remaining));

  it("folds a held refund into the client's next charge: one script call, and the budget exact after it", async () => {
    const store = new RedisBudgetStore(redis, { refundDelayMs: 60_000 });
    const calls = vi.spyOn(redis as unknown as { gatewayBudget: (...args: unknown[]) => unknown }, 'gatewayBudget');
    try {
      const client = newClient();
      await store.charge(client, 40, limits);
      expect(await store.refund(client, 30, limits)).toBe('deferred');
      expect(await remaining(client)).toEqual([60, 60]); // held, not sent
      calls.mockClear();
      const next = await store.charge(client, 10, limits);
      expect(calls).toHaveBeenCalledTimes(1);
      // 100 - 40 + 30 - 10, in the bucket and in the window.
      expect(next.limits.map((s) => Math.round(s.remaining))).toEqual([80, 80]);
      expect(await remaining(client)).toEqual([80, 80]);
      // Nothing is left to send: the credit went once.
      await store.close();
      expect(await remaining(client)).toEqual([80, 80]);
    } finally {
      calls.mockRestore();
    }
  });

  it('sends a held refund by itself within refundDelayMs when no charge comes, and sums refunds held meanwhile', async () => {
    const store = new RedisBudgetStore(redis, { refundDelayMs: 50 });
    const client = newClient();
    await store.charge(client, 60, limits);
    expect(await store.refund(client, 20, limits)).toBe('deferred');
    expect(await store.refund(client, 15, limits)).toBe('deferred');
    expect(await remaining(client)).toEqual([40, 40]);
    await vi.waitFor(async () => expect(await remaining(client)).toEqual([75, 75]), { timeout: 2_000, interval: 20 });
  });

  it('gives the held refund back even when the charge carrying it is refused', async () => {
    const store = new RedisBudgetStore(redis, { refundDelayMs: 60_000 });
    const client = newClient();
    await store.charge(client, 90, limits);
    await store.refund(client, 50, limits);
    const refused = await store.charge(client, 70, limits);
    expect(refused.allowed).toBe(false);
    expect(refused.limits.map((s) => Math.round(s.remaining))).toEqual([60, 60]);
    expect(await remaining(client)).toEqual([60, 60]);
  });

  it('counts a held refund lost when the charge carrying it or the send fails (the client keeps the charge)', async () => {
    // A connection that never connects and queues nothing: every command fails at once.
    const dead = new Redis(REDIS_URL, { lazyConnect: true, enableOfflineQueue: false, keyPrefix: PREFIX });
    const lost: unknown[] = [];
    const store = new RedisBudgetStore(dead, { refundDelayMs: 60_000, onRefundLost: (error) => lost.push(error) });
    const client = newClient();
    expect(await store.refund(client, 10, limits)).toBe('deferred');
    await expect(store.charge(client, 5, limits)).rejects.toThrow();
    expect(lost).toHaveLength(1);
    // A charge without a credit to carry loses nothing.
    await expect(store.charge(client, 5, limits)).rejects.toThrow();
    expect(lost).toHaveLength(1);
    await store.refund(client, 10, limits);
    await store.close();
    expect(lost).toHaveLength(2);
    dead.disconnect();
  });

  it('through the failover store: a held refund of a charge taken in Redis reaches Redis, one taken in memory stays there', async () => {
    const memory = new MemoryBudgetStore();
    const primary = new RedisBudgetStore(redis, { refundDelayMs: 60_000 });
    const store = new FailoverBudgetStore(primary, {
      timeoutMs: 2_000,
      retryPrimaryAfterMs: 1_000,
      fallback: memory,
      logger: pino({ level: 'silent' }),
    });
    const client = newClient();
    const charged = await store.charge(client, 40, limits);
    expect(charged.chargedBy).toBe('primary');
    expect(await store.refund(client, 30, limits, charged.chargedBy)).toBe('deferred');
    // A refund of a charge the fallback took goes to memory at once, never to Redis.
    const inMemory = await memory.charge(client, 50, limits);
    expect(inMemory.allowed).toBe(true);
    const back = await store.refund(client, 20, limits, 'fallback');
    expect(back).not.toBe('deferred');
    await store.close();
    expect(await remaining(client)).toEqual([90, 90]);
    expect((await memory.peek(client, limits)).map((s) => Math.round(s.remaining))).toEqual([70, 70]);
  });

  it('keeps held refunds apart per client and per set of limits', async () => {
    const store = new RedisBudgetStore(redis, { refundDelayMs: 60_000 });
    const [a, b] = [newClient(), newClient()];
    const onlyBucket = limits.slice(0, 1);
    await store.charge(a, 50, limits);
    await store.charge(b, 50, limits);
    await store.refund(a, 20, limits);
    // b's charge and a charge of a with other limits do not take a's credit.
    await store.charge(b, 10, limits);
    await store.charge(a, 10, onlyBucket);
    expect(await remaining(a)).toEqual([40, 50]);
    expect(await remaining(b)).toEqual([40, 40]);
    await store.close();
    expect(await remaining(a)).toEqual([60, 70]);
  });
});
