import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEV_ISSUER } from '../gateway/src/auth/dev-secret.js';
import { RedisApiKeyStore } from '../gateway/src/auth/api-key-store.js';
import { createApiKey } from '../gateway/src/auth/api-keys.js';
import { loadConfig } from '../gateway/src/config/index.js';
import { bearer, deleteKeys, TEST_REDIS_URL, testKeyPrefix, waitForRedis } from './helpers/cost-stack.js';
import { startTestGateway, type TestGateway } from './helpers/gateway.js';
import { startRestUpstream, type RestUpstream } from './helpers/rest-upstream.js';
import { DEMO_SUPERGRAPH } from './helpers/subgraphs.js';

const open = { auth: { mode: 'optional' as const }, cost: 0 };

describe('per-route request limits, counted in Redis across two gateway instances', () => {
  const prefix = testKeyPrefix('rest-limits');
  let upstream: RestUpstream;
  let gateways: TestGateway[] = [];
  const keys: { key: string; id: string }[] = [];
  beforeAll(async () => {
    upstream = await startRestUpstream();
    const to = upstream.origin;
    // With Redis configured, the gateways read API keys from it (under their key prefix).
    const keyStore = new Redis(TEST_REDIS_URL, { keyPrefix: prefix });
    for (const owner of ['billing', 'reports']) {
      const { key, record } = await createApiKey(new RedisApiKeyStore(keyStore), { owner, tier: 'shared', scopes: [] });
      keys.push({ key, id: record.id });
    }
    keyStore.disconnect();
    const start = () =>
      startTestGateway({
        supergraph: { path: DEMO_SUPERGRAPH, watch: false },
        auth: { jwt: { issuers: [DEV_ISSUER] } },
        redis: { url: TEST_REDIS_URL, keyPrefix: prefix },
        // waitForRedis reads /ready's Redis status, which is behind server.readinessDetail.
        server: { readinessDetail: true },
        // A loaded machine must not make a Redis call time out and fail over to one count per instance.
        rateLimit: {
          storeTimeoutMs: 5_000,
          defaultTier: 'shared',
          tiers: {
            shared: {
              maxCost: 1000,
              maxDepth: 10,
              maxAliases: 5,
              maxRootFields: 5,
              limits: [{ name: 'burst', kind: 'token_bucket', capacity: 1000, refillPerSecond: 1 }],
            },
          },
        },
        rest: {
          routes: [
            { ...open, prefix: '/per-ip', upstream: to, limit: { kind: 'sliding_window', by: 'ip', limit: 5, windowSeconds: 60 } },
            { ...open, prefix: '/per-key', upstream: to, limit: { kind: 'sliding_window', by: 'apiKey', limit: 3, windowSeconds: 60 } },
            { ...open, prefix: '/per-user', upstream: to, limit: { kind: 'token_bucket', capacity: 3, refillPerSecond: 0.001 } },
            {
              ...open,
              prefix: '/both',
              upstream: to,
              cost: 1,
              limit: { kind: 'token_bucket', name: 'per-route', capacity: 2, refillPerSecond: 0.001 },
            },
          ],
        },
      });
    gateways = await Promise.all([start(), start()]);
    for (const gw of gateways) await waitForRedis(gw);
  });
  afterAll(async () => {
    for (const gw of gateways) await gw.close();
    await upstream?.close();
    await deleteKeys(TEST_REDIS_URL, prefix);
  });

  it('a sliding window per IP lets exactly its limit through, whichever instance the requests reach, also at once', async () => {
    const before = upstream.hits.length;
    const responses = await Promise.all(
      Array.from({ length: 12 }, (_, i) => fetch(`${gateways[i % 2]?.url}/per-ip/x`, { headers: { 'x-request-id': `lim-${i}` } })),
    );
    const statuses = responses.map((response) => response.status).sort();
    expect(statuses).toEqual([...Array(5).fill(200), ...Array(7).fill(429)]);
    expect(upstream.hits.length - before).toBe(5);
    const limited = responses.find((response) => response.status === 429) as Response;
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(limited.headers.get('ratelimit-policy')).toBe('"route";q=5;w=60');
    expect(limited.headers.get('ratelimit')).toMatch(/^"route";r=0;t=\d+$/);
    expect(limited.headers.get('x-ratelimit-limit')).toBe('5');
    expect(await limited.json()).toMatchObject({ error: 'RATE_LIMITED', message: expect.stringContaining("route's limit") });
    const allowed = responses.find((response) => response.status === 200) as Response;
    expect(allowed.headers.get('ratelimit-policy')).toBe('"route";q=5;w=60');
    for (const response of responses) if (!response.bodyUsed) await response.body?.cancel();
    // One window for the IP, in the gateways' shared Redis.
    const redis = new Redis(TEST_REDIS_URL);
    try {
      const keys = await redis.keys(`${prefix}*per-ip*`);
      expect(keys).toEqual([`${prefix}rl:{rest:/per-ip:ip:127.0.0.1}:sw:route`]);
    } finally {
      redis.disconnect();
    }
  });

  it('by API key: each key has its own window, exact across both instances; a caller without a key counts by IP', async () => {
    const before = upstream.hits.length;
    const [billing, reports] = keys as [{ key: string; id: string }, { key: string; id: string }];
    const send = (key: string | undefined, i: number) =>
      fetch(`${gateways[i % 2]?.url}/per-key/x`, { headers: key ? { 'x-api-key': key } : {} }).then(async (response) => {
        await response.body?.cancel();
        return response.status;
      });
    // All at once, spread over both instances: 6 with one key, 4 with the other, 4 without a key.
    const statuses = await Promise.all([
      ...Array.from({ length: 6 }, (_, i) => send(billing.key, i)),
      ...Array.from({ length: 4 }, (_, i) => send(reports.key, i)),
      ...Array.from({ length: 4 }, (_, i) => send(undefined, i)),
    ]);
    const count = (from: number, to: number, status: number) => statuses.slice(from, to).filter((s) => s === status).length;
    expect([count(0, 6, 200), count(0, 6, 429)]).toEqual([3, 3]);
    expect([count(6, 10, 200), count(6, 10, 429)]).toEqual([3, 1]);
    expect([count(10, 14, 200), count(10, 14, 429)]).toEqual([3, 1]);
    expect(upstream.hits.length - before).toBe(9);
    const redis = new Redis(TEST_REDIS_URL);
    try {
      const windows = (await redis.keys(`${prefix}*per-key*`)).sort();
      expect(windows).toEqual(
        [
          `${prefix}rl:{rest:/per-key:ip:127.0.0.1}:sw:route`,
          `${prefix}rl:{rest:/per-key:key:${billing.id}}:sw:route`,
          `${prefix}rl:{rest:/per-key:key:${reports.id}}:sw:route`,
        ].sort(),
      );
    } finally {
      redis.disconnect();
    }
  });

  it('a token bucket per principal: each user has their own, and anonymous callers count by IP', async () => {
    const alice = await bearer('limit-alice', 'shared');
    const bob = await bearer('limit-bob', 'shared');
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await fetch(`${gateways[i % 2]?.url}/per-user/a`, { headers: alice })).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
    expect((await fetch(`${gateways[1]?.url}/per-user/a`, { headers: bob })).status).toBe(200);
    expect((await fetch(`${gateways[0]?.url}/per-user/a`)).status).toBe(200);
  });

  it('a route with a cost and a limit charges both and reports both in the rate-limit headers; its limit refuses first here', async () => {
    const carol = await bearer('limit-carol', 'shared');
    const first = await fetch(`${gateways[0]?.url}/both/a`, { headers: carol });
    expect(first.status).toBe(200);
    expect(first.headers.get('ratelimit-policy')).toBe('"per-route";q=2;w=2000, "burst";q=1000;w=1000');
    expect(first.headers.get('ratelimit')).toMatch(/^"per-route";r=1;t=\d+, "burst";r=999;t=\d+$/);
    // The legacy headers describe whichever has fewer left.
    expect(first.headers.get('x-ratelimit-remaining')).toBe('1');
    expect((await fetch(`${gateways[1]?.url}/both/a`, { headers: carol })).status).toBe(200);
    const third = await fetch(`${gateways[0]?.url}/both/a`, { headers: carol });
    expect(third.status).toBe(429);
    expect(third.headers.get('ratelimit-policy')).toBe('"per-route";q=2;w=2000');
  });
});

describe('per-route limit config', () => {
  const load = (limit: unknown) => () =>
    loadConfig({ env: {}, overrides: { rest: { routes: [{ prefix: '/a', upstream: 'http://u', limit }] as never } } });
  it('defaults to counting by principal under the name route, and refuses an unknown kind, key or basis', () => {
    expect(load({ kind: 'sliding_window', limit: 5, windowSeconds: 60 })().rest.routes[0]?.limit).toEqual({
      kind: 'sliding_window',
      by: 'principal',
      name: 'route',
      limit: 5,
      windowSeconds: 60,
    });
    expect(load({ kind: 'leaky', limit: 5 })).toThrow();
    expect(load({ kind: 'token_bucket', capacity: 5, refillPerSecond: 1, by: 'cookie' })).toThrow();
    expect(load({ kind: 'token_bucket', capacity: 5, refillPerSecond: 1, limit: 3 })).toThrow();
  });
});
