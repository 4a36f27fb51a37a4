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
import { startRestUpstream, type RestUpstream } from './helpers/rest-upstream.js';

// 45 points, refilled at 1 per second: a REST request costs 9 points here, as much as NINE_POINTS.
const TIER = { maxCost: 45, maxDepth: 10, maxAliases: 5, maxRootFields: 5, limits: [bucket('burst', 45, 1)] };

describe('one budget per client, whatever the protocol (Redis store)', () => {
  const prefix = testKeyPrefix('rest-budget');
  let counted: CountedSubgraphs;
  let upstream: RestUpstream;
  let gw: TestGateway;
  beforeAll(async () => {
    counted = await startCountedSubgraphs();
    upstream = await startRestUpstream();
    gw = await startCostGateway(counted, {
      redis: { url: TEST_REDIS_URL, keyPrefix: prefix },
      rateLimit: { defaultTier: 'shared', tiers: { shared: TIER } },
      rest: { routes: [{ prefix: '/legacy/echo', upstream: upstream.origin, rewrite: '/api/echo', cost: 9, auth: { mode: 'required' } }] },
    });
  });
  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
    await counted?.close();
    await deleteKeys(TEST_REDIS_URL, prefix);
  });

  it('GraphQL spending makes REST 429 (with Retry-After and the same rate-limit headers), and REST spending makes GraphQL 429', async () => {
    const alice = await bearer('rest-budget-alice', 'shared');
    // GraphQL spends 36 of 45 points.
    for (let i = 0; i < 4; i++) expect((await postGraphql(gw.graphqlUrl, { query: NINE_POINTS }, alice)).status).toBe(200);

    // REST takes the last 9 (maybe a point of refill more): the same budget, the same headers.
    const allowed = await fetch(`${gw.url}/legacy/echo/a`, { headers: alice });
    expect(allowed.status).toBe(200);
    await allowed.text();
    expect(Number(allowed.headers.get('x-ratelimit-limit'))).toBe(45);
    expect(Number(allowed.headers.get('x-ratelimit-remaining'))).toBeLessThan(9);
    expect(allowed.headers.get('ratelimit-policy')).toBe('"burst";q=45;w=45');

    const hitsBefore = upstream.hits.length;
    const limited = await fetch(`${gw.url}/legacy/echo/a`, { headers: { ...alice, 'x-request-id': 'rest-429' } });
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(limited.headers.get('x-ratelimit-limit')).toBe('45');
    expect(limited.headers.get('ratelimit')).toMatch(/^"burst";r=\d;t=\d+$/);
    expect(await limited.json()).toEqual({ error: 'RATE_LIMITED', message: expect.any(String), request_id: 'rest-429' });
    expect(upstream.hits.length).toBe(hitsBefore);

    // ...and back: the budget REST spent is the one GraphQL has left.
    const graphql = await postGraphql(gw.graphqlUrl, { query: NINE_POINTS }, alice);
    expect(graphql.status).toBe(429);
    expect(graphql.body.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');

    // Another client is not affected.
    const bob = await bearer('rest-budget-bob', 'shared');
    expect((await fetch(`${gw.url}/legacy/echo/a`, { headers: bob })).status).toBe(200);

    // The budget lives in Redis under this client's key, in this test's prefix.
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    expect(metrics).toMatch(/gateway_rate_limit_total\{tier="shared",result="limited"\} [2-9]/);
    expect(metrics).toMatch(/gateway_rest_requests_total\{route="\/legacy\/echo",method="GET",status_class="4xx"\} 1/);
  });

  it('after waiting out Retry-After, REST is allowed again', async () => {
    const carol = await bearer('rest-budget-carol', 'shared');
    for (let i = 0; i < 5; i++) await (await fetch(`${gw.url}/legacy/echo/b`, { headers: carol })).text();
    const limited = await fetch(`${gw.url}/legacy/echo/b`, { headers: carol });
    expect(limited.status).toBe(429);
    const retryAfter = Number(limited.headers.get('retry-after'));
    // 9 points at 1 per second: at most 9 s (bounded wait).
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(9);
    await new Promise((resolve) => setTimeout(resolve, retryAfter * 1000 + 200));
    const again = await fetch(`${gw.url}/legacy/echo/b`, { headers: carol });
    expect(again.status).toBe(200);
  }, 20_000);
});
