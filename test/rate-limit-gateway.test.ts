import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  NINE_POINTS,
  TEST_REDIS_URL,
  bearer,
  bucket,
  deleteKeys,
  startCostGateway,
  startCountedSubgraphs,
  testKeyPrefix,
  type CountedSubgraphs,
} from './helpers/cost-stack.js';
import { postGraphql, type TestGateway } from './helpers/gateway.js';
import { startPrivateRedis, type PrivateRedis } from './helpers/redis-server.js';

let counted: CountedSubgraphs;
beforeAll(async () => {
  counted = await startCountedSubgraphs();
});
afterAll(async () => {
  await counted?.close();
});

const SHARED_TIER = { maxCost: 45, maxDepth: 10, maxAliases: 5, maxRootFields: 5, limits: [bucket('burst', 45, 9)] };

describe('two gateway instances sharing one Redis', () => {
  const prefix = testKeyPrefix('rl-shared');
  let gateways: TestGateway[] = [];
  afterAll(async () => {
    await Promise.all(gateways.map((gw) => gw.close()));
    await deleteKeys(TEST_REDIS_URL, prefix);
  });

  it('never admits more per client than capacity plus refill over the run, with many concurrent clients', async () => {
    // A generous store timeout: this test is about two instances sharing Redis, and under a loaded
    // 2-core CI machine the default 100 ms would fail open to per-instance budgets (that path has
    // its own test below).
    const config = {
      redis: { url: TEST_REDIS_URL, keyPrefix: prefix },
      rateLimit: { storeTimeoutMs: 2_000, defaultTier: 'shared', tiers: { shared: SHARED_TIER } },
    };
    gateways = await Promise.all([startCostGateway(counted, config), startCostGateway(counted, config)]);
    const clients = await Promise.all(Array.from({ length: 8 }, (_, i) => bearer(`concurrent-${i}`, 'shared')));
    const admitted = new Map<number, number>();
    const retryAfters: string[] = [];
    const started = Date.now();
    // Each client: 4 waves of 6 concurrent requests, alternating gateways; 9 points each, actual = estimate.
    await Promise.all(
      clients.map(async (headers, client) => {
        for (let wave = 0; wave < 4; wave++) {
          const results = await Promise.all(
            Array.from({ length: 6 }, (_, i) =>
              postGraphql((gateways[(wave + i) % 2] as TestGateway).graphqlUrl, { query: NINE_POINTS }, headers),
            ),
          );
          for (const result of results) {
            if (result.status === 200) admitted.set(client, (admitted.get(client) ?? 0) + 9);
            else {
              expect(result.status).toBe(429);
              retryAfters.push(result.headers.get('retry-after') ?? '');
            }
          }
        }
      }),
    );
    const seconds = (Date.now() - started) / 1000;
    const bound = 45 + 9 * seconds;
    for (let client = 0; client < clients.length; client++) {
      const points = admitted.get(client) ?? 0;
      expect(points).toBeGreaterThanOrEqual(45); // the first wave fits whole (5 × 9 = 45)
      expect(points).toBeLessThanOrEqual(bound);
    }
    expect(retryAfters.length).toBeGreaterThan(0);
    for (const retryAfter of retryAfters) expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
  });
});

describe('Redis frozen or stopped mid-run', () => {
  let redis: PrivateRedis;
  const gateways: TestGateway[] = [];
  beforeAll(async () => {
    redis = await startPrivateRedis();
  });
  afterAll(async () => {
    await Promise.all(gateways.map((gw) => gw.close()));
    await redis?.stop();
  });

  const failoverConfig = (onStoreFailure: 'open' | 'closed') => ({
    redis: { url: redis.url, keyPrefix: `${onStoreFailure}:` },
    rateLimit: { onStoreFailure, storeTimeoutMs: 100, retryStoreAfterMs: 300, defaultTier: 'shared', tiers: { shared: SHARED_TIER } },
  });

  it('fails open (answered within the timeout) or closed (503), logs the transitions, and goes back to Redis', async () => {
    const open = await startCostGateway(counted, failoverConfig('open'));
    const closed = await startCostGateway(counted, failoverConfig('closed'));
    gateways.push(open, closed);
    const headers = await bearer('failover', 'shared');
    expect((await postGraphql(open.graphqlUrl, { query: NINE_POINTS }, headers)).status).toBe(200);
    expect((await postGraphql(closed.graphqlUrl, { query: NINE_POINTS }, headers)).status).toBe(200);

    redis.freeze();
    try {
      for (let i = 0; i < 3; i++) {
        const startedAt = Date.now();
        const answer = await postGraphql(open.graphqlUrl, { query: NINE_POINTS }, headers);
        expect(answer.status).toBe(200);
        expect(Date.now() - startedAt).toBeLessThan(2_000);
        const refused = await postGraphql(closed.graphqlUrl, { query: NINE_POINTS }, headers);
        expect(refused.status).toBe(503);
        expect(refused.body.errors?.[0]?.extensions?.code).toBe('RATE_LIMIT_UNAVAILABLE');
        expect(refused.headers.get('retry-after')).toBe('1');
      }
    } finally {
      redis.thaw();
    }
    expect(open.logs.find((l) => l.msg === 'rate-limit store unavailable: failing open to a per-instance in-memory limiter')).toHaveLength(
      1,
    );
    expect(closed.logs.find((l) => l.msg === 'rate-limit store unavailable: failing closed')).toHaveLength(1);
    expect(await (await fetch(`${open.url}/metrics`)).text()).toMatch(/gateway_rate_limit_store_errors_total [1-9]/);
    expect(await (await fetch(`${closed.url}/metrics`)).text()).toMatch(
      /gateway_rate_limit_total\{tier="shared",result="unavailable"\} [1-9]/,
    );

    // Back on Redis: a fresh client's charge lands there again.
    const fresh = await bearer('after-thaw', 'shared');
    let recovered = false;
    for (let i = 0; i < 60 && !recovered; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      const answer = await postGraphql(closed.graphqlUrl, { query: NINE_POINTS }, fresh);
      recovered = answer.status === 200;
    }
    expect(recovered).toBe(true);
    expect(closed.logs.find((l) => l.msg === 'rate-limit store recovered: budgets are shared again')).toHaveLength(1);

    // Stopped for good: still answered (open) or refused (closed), within the timeout.
    await redis.stop();
    const startedAt = Date.now();
    expect((await postGraphql(open.graphqlUrl, { query: NINE_POINTS }, headers)).status).toBe(200);
    expect((await postGraphql(closed.graphqlUrl, { query: NINE_POINTS }, headers)).status).toBe(503);
    expect(Date.now() - startedAt).toBeLessThan(4_000);
  });
});
