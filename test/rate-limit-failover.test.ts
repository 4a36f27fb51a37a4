import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LimitSpec } from '../gateway/src/rate-limit/budget.js';
import { BudgetStoreUnavailableError, FailoverBudgetStore } from '../gateway/src/rate-limit/failover-store.js';
import { MemoryBudgetStore } from '../gateway/src/rate-limit/memory-store.js';
import { RedisBudgetStore } from '../gateway/src/rate-limit/redis-store.js';
import { LogCapture } from './helpers/logs.js';
import { startPrivateRedis, type PrivateRedis } from './helpers/redis-server.js';
import { sleep } from './helpers/tiny-subgraph.js';
import { stateAfter } from './helpers/contracts/budget-store.js';

let server: PrivateRedis;
let redis: Redis;
const LIMITS: LimitSpec[] = [{ name: 'b', kind: 'token_bucket', capacity: 100, refillPerSecond: 0.01 }];

beforeAll(async () => {
  server = await startPrivateRedis();
  // As the gateway configures it: no offline queue, a command timeout, quick reconnects.
  redis = new Redis(server.url, { enableOfflineQueue: false, commandTimeout: 200, maxRetriesPerRequest: 0, retryStrategy: () => 50 });
  redis.on('error', () => undefined); // expected while the server is frozen or stopped
  await new Promise((resolve) => redis.once('ready', resolve));
});

afterAll(async () => {
  redis?.disconnect();
  await server?.stop();
});

function failover(fallback: 'open' | 'closed') {
  const logs = new LogCapture();
  let errors = 0;
  const store = new FailoverBudgetStore(new RedisBudgetStore(redis), {
    timeoutMs: 250,
    retryPrimaryAfterMs: 300,
    fallback: fallback === 'open' ? new MemoryBudgetStore() : undefined,
    logger: pino(logs),
    onPrimaryError: () => errors++,
  });
  return { store, logs, errors: () => errors };
}

describe('rate-limit store failover', () => {
  it('fails open to the in-memory store within the timeout while Redis hangs, logs each transition once, and returns', async () => {
    const { store, logs, errors } = failover('open');
    expect((await store.charge('alice', 10, LIMITS)).allowed).toBe(true);
    expect(store.isDegraded).toBe(false);

    server.freeze();
    try {
      const results = [];
      for (let i = 0; i < 5; i++) results.push(await store.charge('alice', 10, LIMITS));
      expect(results.every((r) => r.allowed)).toBe(true);
      expect(store.isDegraded).toBe(true);
      // Only the first call waited for the deadline; the rest went straight to the fallback.
      expect(errors()).toBe(1);
      // The in-memory limiter is a fresh, per-instance budget: 100 - 5 × 10.
      expect(Math.floor(results.at(-1)?.limits[0]?.remaining ?? 0)).toBe(50);
    } finally {
      server.thaw();
    }

    await sleep(400);
    let recovered = await store.charge('alice', 10, LIMITS);
    for (let i = 0; i < 20 && store.isDegraded; i++) {
      await sleep(100);
      recovered = await store.charge('alice', 10, LIMITS);
    }
    expect(store.isDegraded).toBe(false);
    // Back on Redis, where alice had spent 10 before the outage (and 10 now).
    expect(Math.floor(recovered.limits[0]?.remaining ?? 0)).toBeLessThanOrEqual(80);
    const messages = logs.lines.map((l) => l.msg);
    expect(messages.filter((m) => m?.startsWith('rate-limit store unavailable'))).toHaveLength(1);
    expect(messages.filter((m) => m === 'rate-limit store recovered: budgets are shared again')).toHaveLength(1);
  });

  it('fails closed when configured so: calls are refused, without waiting on the hung primary again', async () => {
    const { store, errors } = failover('closed');
    server.freeze();
    try {
      await expect(store.charge('bob', 1, LIMITS)).rejects.toBeInstanceOf(BudgetStoreUnavailableError);
      await expect(store.charge('bob', 1, LIMITS)).rejects.toBeInstanceOf(BudgetStoreUnavailableError);
      // The second refusal did not wait for the hung primary.
      expect(errors()).toBe(1);
    } finally {
      server.thaw();
    }
  });

  it('refunds to the store that took the charge, never to the other one', async () => {
    const memory = new MemoryBudgetStore();
    const primary = new RedisBudgetStore(redis);
    const store = new FailoverBudgetStore(primary, {
      timeoutMs: 250,
      retryPrimaryAfterMs: 300,
      fallback: memory,
      logger: pino(new LogCapture()),
    });

    // Charged in Redis; Redis hangs before the refund: the refund is lost, not credited in memory.
    const inRedis = await store.charge('dave', 40, LIMITS);
    expect(inRedis.chargedBy).toBe('primary');
    server.freeze();
    try {
      await expect(store.refund('dave', 30, LIMITS, inRedis.chargedBy)).rejects.toThrow();
      expect((await memory.peek('dave', LIMITS))[0]?.remaining).toBe(100); // the fallback never saw dave
      // Charged by the fallback while degraded...
      const inMemory = await store.charge('erin', 40, LIMITS);
      expect(inMemory.chargedBy).toBe('fallback');
      server.thaw();
      await sleep(400);
      // ...and refunded there, even though Redis answers again.
      const after = stateAfter(await store.refund('erin', 30, LIMITS, inMemory.chargedBy));
      expect(Math.floor(after[0]?.remaining ?? 0)).toBe(90);
      // Redis shows erin at 60, not 90: the charge that timed out against the frozen Redis ran when
      // it thawed (a known effect of failing over, see docs/cost-and-rate-limits.md), and the refund did not go there.
      expect(Math.floor((await primary.peek('erin', LIMITS))[0]?.remaining ?? 0)).toBe(60);
    } finally {
      server.thaw();
    }
  });

  it('fails over at once when Redis is gone (connection refused)', async () => {
    const gone = new Redis('redis://127.0.0.1:1', {
      enableOfflineQueue: false,
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    gone.on('error', () => undefined);
    const store = new FailoverBudgetStore(new RedisBudgetStore(gone), {
      timeoutMs: 250,
      retryPrimaryAfterMs: 1_000,
      fallback: new MemoryBudgetStore(),
      logger: pino(new LogCapture()),
    });
    const result = await store.charge('carol', 5, LIMITS);
    expect(result.allowed).toBe(true);
    expect(store.isDegraded).toBe(true);
    gone.disconnect();
  });
});
