import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DEV_JWT_ISSUER } from '../gateway/src/auth/dev-secret.js';
import type { LimitSpec } from '../gateway/src/rate-limit/budget.js';
import { RedisBudgetStore } from '../gateway/src/rate-limit/redis-store.js';
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

const TINY: LimitSpec[] = [bucket('burst', 20, 3)];
const PRO: LimitSpec[] = [bucket('burst', 1_000, 0.001), { name: 'daily', kind: 'sliding_window', limit: 5_000, windowSeconds: 86_400 }];
const ANONYMOUS: LimitSpec[] = [bucket('burst', 30, 0.001)];
const userKey = (sub: string) => `user:${DEV_JWT_ISSUER}:${sub}`;

let counted: CountedSubgraphs;
let gw: TestGateway;
let costsFile: string;
const prefix = testKeyPrefix('cost-gateway');

beforeAll(async () => {
  counted = await startCountedSubgraphs();
  costsFile = join(mkdtempSync(join(tmpdir(), 'costs-')), 'costs.yaml');
  copyFileSync('schema/costs.yaml', costsFile);
  gw = await startCostGateway(counted, {
    redis: { url: TEST_REDIS_URL, keyPrefix: prefix },
    server: { trustedProxies: ['127.0.0.1'] },
    cost: { overridesPath: costsFile, pollIntervalMs: 50 },
    rateLimit: {
      defaultTier: 'pro',
      tiers: {
        anonymous: { maxCost: 30, maxDepth: 3, maxAliases: 2, maxRootFields: 2, limits: ANONYMOUS },
        tiny: { maxCost: 20, maxDepth: 10, maxAliases: 5, maxRootFields: 5, limits: TINY },
        pro: {
          maxCost: 500,
          maxDepth: 10,
          maxAliases: 5,
          maxRootFields: 5,
          limits: PRO,
          overrides: [{ match: { operationName: 'Capped' }, maxCost: 5 }],
        },
      },
    },
  });
});

afterAll(async () => {
  await gw?.close();
  await counted?.close();
  await deleteKeys(TEST_REDIS_URL, prefix);
});

const peek = (clientKey: string, limits: LimitSpec[]) => gw.gateway.budget!.store.peek(clientKey, limits);

describe('cost limits before execution', () => {
  it('refuses an operation over the tier maxCost with COST_ESTIMATED_TOO_EXPENSIVE and {estimated, max}, asking no subgraph and charging nothing', async () => {
    const before = counted.total();
    const query = '{ topProducts(first: 20) { upc name inStock } }'; // 20 × (1 + 2) = 60
    const result = await postGraphql(gw.graphqlUrl, { query }, { 'x-forwarded-for': '198.51.100.10' });
    expect(result.status).toBe(400);
    expect(result.body.errors?.[0]?.extensions).toEqual({ code: 'COST_ESTIMATED_TOO_EXPENSIVE', cost: { estimated: 60, max: 30 } });
    expect(result.body.data).toBeUndefined();
    expect(counted.total()).toBe(before);
    expect((await peek('ip:198.51.100.10', ANONYMOUS))[0]?.remaining).toBe(30);
  });

  it('applies a per-operation-name override (a lower maxCost)', async () => {
    const result = await postGraphql(
      gw.graphqlUrl,
      { query: 'query Capped { topProducts(first: 3) { upc name inStock } }' },
      await bearer('capped', 'pro'),
    );
    expect(result.status).toBe(400);
    expect(result.body.errors?.[0]?.extensions).toEqual({ code: 'COST_ESTIMATED_TOO_EXPENSIVE', cost: { estimated: 9, max: 5 } });
  });

  it('refuses a slicing argument over the max of schema/costs.yaml with LIST_SIZE_TOO_LARGE, from a literal or a variable', async () => {
    const before = counted.total();
    const literal = await postGraphql(gw.graphqlUrl, { query: '{ topProducts(first: 101) { upc } }' }, await bearer('lists', 'pro'));
    expect(literal.status).toBe(400);
    expect(literal.body.errors?.[0]?.extensions).toEqual({
      code: 'LIST_SIZE_TOO_LARGE',
      path: 'topProducts',
      argument: 'first',
      value: 101,
      max: 100,
    });
    const variable = await postGraphql(
      gw.graphqlUrl,
      { query: 'query($n: Int) { topProducts(first: $n) { upc } }', variables: { n: 150 } },
      await bearer('lists', 'pro'),
    );
    expect(variable.status).toBe(400);
    expect(variable.body.errors?.[0]?.extensions).toMatchObject({ code: 'LIST_SIZE_TOO_LARGE', value: 150, max: 100 });
    expect(counted.total()).toBe(before);
  });

  it('enforces the tier limits on depth, aliases and root fields', async () => {
    const anonymous = { 'x-forwarded-for': '198.51.100.11' };
    const deep = await postGraphql(gw.graphqlUrl, { query: '{ users(first: 1) { edges { node { id } } } }' }, anonymous);
    expect(deep.status).toBe(400);
    expect(deep.body.errors?.[0]?.extensions).toEqual({ code: 'MAX_DEPTH_EXCEEDED', value: 4, max: 3 });
    const aliases = await postGraphql(gw.graphqlUrl, { query: '{ a: product(upc: "1") { upc } b: product(upc: "2") { upc } }' }, anonymous);
    expect(aliases.status).toBe(200);
    const threeAliases = await postGraphql(
      gw.graphqlUrl,
      { query: '{ a: product(upc: "1") { u: upc } b: product(upc: "2") { upc } }' },
      anonymous,
    );
    expect(threeAliases.status).toBe(400);
    expect(threeAliases.body.errors?.[0]?.extensions).toEqual({ code: 'MAX_ALIASES_EXCEEDED', value: 3, max: 2 });
    const roots = await postGraphql(
      gw.graphqlUrl,
      { query: '{ me { id } product(upc: "1") { upc } topProducts(first: 1) { upc } }' },
      anonymous,
    );
    expect(roots.status).toBe(400);
    expect(roots.body.errors?.[0]?.extensions).toEqual({ code: 'MAX_ROOT_FIELDS_EXCEEDED', value: 3, max: 2 });
  });
});

describe('explain (dry run)', () => {
  it('returns the breakdown in extensions without executing or charging anything', async () => {
    const headers = { ...(await bearer('explain', 'pro')), 'x-cost-explain': '1' };
    const before = counted.total();
    const result = await postGraphql(gw.graphqlUrl, { query: NINE_POINTS }, headers);
    expect(result.status).toBe(200);
    expect(result.body.data).toBeUndefined();
    const cost = (result.body.extensions as { cost: Record<string, unknown> }).cost;
    expect(cost).toMatchObject({
      dryRun: true,
      requestedQueryCost: 9,
      maximumCost: 500,
      tier: 'pro',
      depth: 2,
      aliases: 0,
      rootFields: 1,
      violations: [],
    });
    expect(cost.explain).toEqual([
      { path: 'topProducts', coordinate: 'Query.topProducts', count: 3, weight: 1, argumentsCost: 0, childrenCost: 2, total: 9 },
      { path: 'topProducts.upc', coordinate: 'Product.upc', count: 1, weight: 0, argumentsCost: 0, childrenCost: 0, total: 0 },
      { path: 'topProducts.name', coordinate: 'Product.name', count: 1, weight: 0, argumentsCost: 0, childrenCost: 0, total: 0 },
      { path: 'topProducts.inStock', coordinate: 'Product.inStock', count: 1, weight: 2, argumentsCost: 0, childrenCost: 0, total: 2 },
    ]);
    expect(counted.total()).toBe(before);
    expect((await peek(userKey('explain'), PRO)).map((s) => s.remaining)).toEqual([1_000, 5_000]);
    const redis = new Redis(TEST_REDIS_URL);
    expect(await redis.keys(`${prefix}rl:{${userKey('explain')}}*`)).toEqual([]);
    redis.disconnect();
  });
});

describe('charging, refunds and what the client is told', () => {
  it('reports the cost in extensions and every rate-limit header', async () => {
    const result = await postGraphql(gw.graphqlUrl, { query: NINE_POINTS }, await bearer('headers', 'pro'));
    expect(result.status).toBe(200);
    expect(result.body.extensions).toEqual({
      cost: {
        requestedQueryCost: 9,
        actualQueryCost: 9,
        throttleStatus: { maximumAvailable: 1_000, currentlyAvailable: 991, restoreRate: 0.001 },
      },
    });
    expect(result.headers.get('ratelimit-policy')).toBe('"burst";q=1000;w=1000000, "daily";q=5000;w=86400');
    expect(result.headers.get('ratelimit')).toMatch(/^"burst";r=991;t=\d+, "daily";r=4991;t=\d+$/);
    expect(result.headers.get('x-ratelimit-limit')).toBe('1000');
    expect(result.headers.get('x-ratelimit-remaining')).toBe('991');
    expect(Number(result.headers.get('x-ratelimit-reset'))).toBeGreaterThanOrEqual(8_999);
  });

  it('refunds what the response did not use: the budget after is capacity minus the actual cost, not the estimate', async () => {
    const query = '{ topProducts(first: 2) { upc } product(upc: "no-such-product") { upc name inStock } }';
    const result = await postGraphql(gw.graphqlUrl, { query }, { ...(await bearer('refund', 'pro')), 'x-request-id': 'refund-1' });
    expect(result.status).toBe(200);
    expect(result.body.data).toEqual({ topProducts: [{ upc: expect.any(String) }, { upc: expect.any(String) }], product: null });
    // Estimate: 2 products + (1 product + 2 for inStock) = 5. Actual: the 2 products; the null costs nothing.
    const actual = 2;
    expect(result.body.extensions).toMatchObject({ cost: { requestedQueryCost: 5, actualQueryCost: actual } });
    // The answer's headers count the refund; Redis gets it within rateLimit.refundDelayMs (100 ms by default).
    expect(result.headers.get('x-ratelimit-remaining')).toBe(String(1_000 - actual));
    expect(result.headers.get('ratelimit')).toMatch(new RegExp(`^"burst";r=${1_000 - actual};t=\\d+, "daily";r=${5_000 - actual};t=\\d+$`));
    await vi.waitFor(
      async () => {
        const [burst, daily] = await peek(userKey('refund'), PRO);
        expect(burst?.remaining).toBeGreaterThanOrEqual(1_000 - actual);
        expect(burst?.remaining).toBeLessThan(1_000 - actual + 1);
        expect(daily?.remaining).toBe(5_000 - actual);
      },
      { timeout: 2_000, interval: 25 },
    );
    expect(gw.logs.completed('refund-1')[0]).toMatchObject({ tier: 'pro', cost: { estimated: 5, actual } });
  });

  it('sends one budget script per request of a busy client: each refund rides on its next charge, the last goes out at shutdown', async () => {
    const heldPrefix = testKeyPrefix('cost-held-refunds');
    const held = await startCostGateway(counted, {
      redis: { url: TEST_REDIS_URL, keyPrefix: heldPrefix },
      rateLimit: {
        refundDelayMs: 10_000,
        defaultTier: 'pro',
        tiers: { pro: { maxCost: 500, maxDepth: 10, maxAliases: 5, maxRootFields: 5, limits: PRO } },
      },
    });
    const monitor = await new Redis(TEST_REDIS_URL).monitor();
    const scripts: string[] = [];
    // The budget scripts that change the client's budget (the mode follows the keys; this test's peeks are left out).
    monitor.on('monitor', (_time: string, args: string[]) => {
      const mode = String(args[3 + Number(args[2])]);
      if (/^eval/i.test(args[0] ?? '') && mode !== 'peek' && args.some((arg) => arg.startsWith(`${heldPrefix}rl:{${userKey('busy')}}`)))
        scripts.push(mode);
    });
    try {
      // Estimate 5, actual 2: 3 points to refund after each.
      const query = '{ topProducts(first: 2) { upc } product(upc: "no-such-product") { upc name inStock } }';
      const headers = await bearer('busy', 'pro');
      for (const told of [998, 996, 994]) {
        const result = await postGraphql(held.graphqlUrl, { query }, headers);
        expect(result.status).toBe(200);
        expect(result.headers.get('x-ratelimit-remaining')).toBe(String(told));
      }
      // Three charges, the first two refunds folded into the next: no refund of their own. The last is held.
      await vi.waitFor(() => expect(scripts).toEqual(['charge', 'charge', 'charge']), { timeout: 2_000, interval: 20 });
      const store = held.gateway.budget!.store;
      expect((await store.peek(userKey('busy'), PRO))[1]?.remaining).toBe(5_000 - 15 + 6);
      await held.close();
      await vi.waitFor(() => expect(scripts).toEqual(['charge', 'charge', 'charge', 'refund']), { timeout: 2_000, interval: 20 });
      const redis = new Redis(TEST_REDIS_URL, { keyPrefix: heldPrefix });
      try {
        const [burst, daily] = await new RedisBudgetStore(redis).peek(userKey('busy'), PRO);
        expect(Math.round(burst?.remaining ?? 0)).toBe(1_000 - 6);
        expect(daily?.remaining).toBe(5_000 - 6);
      } finally {
        redis.disconnect();
      }
    } finally {
      monitor.disconnect();
      await held.close();
      await deleteKeys(TEST_REDIS_URL, heldPrefix);
    }
  });

  it('answers 429 RATE_LIMITED with a Retry-After after which the operation fits, sending nothing to any subgraph', async () => {
    const headers = await bearer('spender', 'tiny');
    expect((await postGraphql(gw.graphqlUrl, { query: NINE_POINTS }, headers)).status).toBe(200);
    expect((await postGraphql(gw.graphqlUrl, { query: NINE_POINTS }, headers)).status).toBe(200);
    const before = counted.total();
    const limited = await postGraphql(gw.graphqlUrl, { query: NINE_POINTS }, headers);
    expect(limited.status).toBe(429);
    expect(limited.body.errors?.[0]?.extensions).toMatchObject({ code: 'RATE_LIMITED' });
    expect(limited.body.data).toBeUndefined();
    expect(counted.total()).toBe(before);
    // About 2 points left (plus what refilled meanwhile at 3/s), 9 needed: Retry-After = ceil((9 - left) / 3).
    const left = Number(limited.headers.get('x-ratelimit-remaining'));
    expect(left).toBeGreaterThanOrEqual(2);
    expect(left).toBeLessThan(9);
    const retryAfter = Number(limited.headers.get('retry-after'));
    expect([Math.ceil((8 - left) / 3), Math.ceil((9 - left) / 3)]).toContain(retryAfter);
    expect(limited.headers.get('ratelimit')).toMatch(new RegExp(`^"burst";r=${left};t=\\d+$`));

    // A different client of the same tier is not affected.
    expect((await postGraphql(gw.graphqlUrl, { query: NINE_POINTS }, await bearer('bystander', 'tiny'))).status).toBe(200);

    await new Promise((resolve) => setTimeout(resolve, retryAfter * 1_000));
    const after = await postGraphql(gw.graphqlUrl, { query: NINE_POINTS }, headers);
    expect(after.status).toBe(200);

    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    expect(metrics).toMatch(/gateway_rate_limit_total\{tier="tiny",result="limited"\} [1-9]/);
    expect(metrics).toMatch(/gateway_operation_cost_count\{kind="estimated"\} [1-9]/);
    expect(metrics).toMatch(/gateway_operation_cost_count\{kind="actual"\} [1-9]/);
  });

  it('charges nothing for an operation that authorization refuses (401)', async () => {
    const refused = await postGraphql(gw.graphqlUrl, { query: '{ order(id: "order-1") { id } }' }, { 'x-forwarded-for': '198.51.100.12' });
    expect(refused.status).toBe(401);
    expect((await peek('ip:198.51.100.12', ANONYMOUS))[0]?.remaining).toBe(30);
  });

  it('keeps anonymous clients behind different addresses apart', async () => {
    const first = { 'x-forwarded-for': '203.0.113.1' };
    for (let i = 0; i < 3; i++) expect((await postGraphql(gw.graphqlUrl, { query: NINE_POINTS }, first)).status).toBe(200);
    expect((await postGraphql(gw.graphqlUrl, { query: NINE_POINTS }, first)).status).toBe(429);
    const second = await postGraphql(gw.graphqlUrl, { query: NINE_POINTS }, { 'x-forwarded-for': '203.0.113.2' });
    expect(second.status).toBe(200);
    expect(second.headers.get('x-ratelimit-remaining')).toBe('21');
    // A signed-in client's budget is its own too.
    expect((await peek('ip:203.0.113.2', ANONYMOUS))[0]?.remaining).toBeCloseTo(21, 0);
    expect((await peek(userKey('nobody-yet'), PRO)).map((s) => s.remaining)).toEqual([1_000, 5_000]);
  });
});

describe('schema/costs.yaml hot reload', () => {
  it('applies a changed file without a restart and keeps the previous model when the new file is invalid', async () => {
    const headers = await bearer('reload', 'pro');
    expect((await postGraphql(gw.graphqlUrl, { query: NINE_POINTS }, headers)).status).toBe(200);
    writeFileSync(costsFile, 'arguments:\n  "Query.topProducts(first:)": { max: 2 }\n');
    let result = await postGraphql(gw.graphqlUrl, { query: NINE_POINTS }, headers);
    for (let i = 0; i < 100 && result.status === 200; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      result = await postGraphql(gw.graphqlUrl, { query: NINE_POINTS }, headers);
    }
    expect(result.status).toBe(400);
    expect(result.body.errors?.[0]?.extensions).toMatchObject({ code: 'LIST_SIZE_TOO_LARGE', value: 3, max: 2 });

    writeFileSync(costsFile, 'arguments:\n  "Query.nope(first:)": { max: 2 }\n');
    for (
      let i = 0;
      i < 100 && !gw.logs.find((l) => l.msg === 'cost overrides reload failed; the previous cost model keeps serving').length;
      i++
    ) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(gw.logs.find((l) => l.msg === 'cost overrides reload failed; the previous cost model keeps serving')[0]?.err).toMatch(
      /Query\.nope/,
    );
    expect((await postGraphql(gw.graphqlUrl, { query: NINE_POINTS }, headers)).status).toBe(400);
    copyFileSync('schema/costs.yaml', costsFile);
  });
});
