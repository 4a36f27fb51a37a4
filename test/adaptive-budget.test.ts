import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { AdaptiveRefill, scaleRefill } from '../gateway/src/rate-limit/adaptive.js';
import { SubgraphLatencies } from '../gateway/src/subgraph/latency.js';
import { FieldOwners } from '../gateway/src/supergraph/field-owners.js';
import { bearer, deleteKeys, testKeyPrefix, waitForRedis } from './helpers/cost-stack.js';
import { postGraphql, type GraphqlResult, type TestGateway } from './helpers/gateway.js';
import { TEST_REDIS_URL } from './helpers/redis.js';
import { eventually, metricValue, useFaultyDemo } from './helpers/resilience.js';
import { DEMO_SUPERGRAPH } from './helpers/subgraphs.js';

const suite = useFaultyDemo();
const prefixes: string[] = [];
afterAll(async () => {
  for (const prefix of prefixes) await deleteKeys(TEST_REDIS_URL, prefix);
});

const REFILL = 40;
const PACED = {
  maxCost: 100,
  maxDepth: 10,
  maxAliases: 5,
  maxRootFields: 5,
  limits: [{ name: 'burst', kind: 'token_bucket' as const, capacity: 10_000, refillPerSecond: REFILL }],
};
const PRODUCT = '{ product(upc: "upc-0001") { upc name } }';
const USERS = '{ users(first: 1) { totalCount } }';

interface Throttle {
  restoreRate: number;
  refillFactor?: number;
  degradedSubgraphs?: { subgraph: string; factor: number; reason: string }[];
}

async function start(
  adaptive: Record<string, unknown>,
  breaker: Record<string, unknown> = { volumeThreshold: 3, resetTimeoutMs: 60_000 },
): Promise<TestGateway> {
  const prefix = testKeyPrefix('adaptive');
  prefixes.push(prefix);
  const gw = await suite.start({
    redis: { url: TEST_REDIS_URL, keyPrefix: prefix },
    // waitForRedis reads /ready's Redis status (server.readinessDetail).
    server: { readinessDetail: true },
    rateLimit: { extensions: true, storeTimeoutMs: 2_000, defaultTier: 'paced', tiers: { paced: PACED }, adaptive },
    resilience: { subgraphDefaults: { retry: { maxRetries: 0 }, fallback: { cache: false } } },
    subgraphs: { products: { breaker } },
  });
  await waitForRedis(gw);
  return gw;
}

async function send(gw: TestGateway, query: string): Promise<{ result: GraphqlResult; throttle: Throttle }> {
  const result = await postGraphql(gw.graphqlUrl, { query }, await bearer('adaptive-client', 'paced'));
  const throttle = (result.body.extensions as { cost?: { throttleStatus?: Throttle } } | undefined)?.cost?.throttleStatus;
  if (!throttle) throw new Error(`no throttleStatus in ${JSON.stringify(result.body)}`);
  return { result, throttle };
}

const breakerState = (gw: TestGateway) => metricValue(gw, 'gateway_circuit_breaker_state', { subgraph: 'products' });

async function openProductsBreaker(gw: TestGateway): Promise<void> {
  suite.demo.proxies.products.mode = { kind: 'reset' };
  for (let i = 0; i < 10 && (await breakerState(gw)) !== 2; i++) await send(gw, PRODUCT);
  expect(await breakerState(gw)).toBe(2);
}

describe('adaptive budgets', () => {
  it('slows the refill of operations that use a subgraph whose breaker is open, and only those', async () => {
    const gw = await start({ enabled: true, openFactor: 0.25 });
    const before = await send(gw, PRODUCT);
    expect(before.throttle.restoreRate).toBe(REFILL);
    expect(before.throttle.refillFactor).toBeUndefined();

    await openProductsBreaker(gw);
    const degraded = await send(gw, PRODUCT);
    expect(degraded.result.body.errors?.[0]?.extensions?.code).toBe('SUBGRAPH_UNAVAILABLE');
    expect(degraded.throttle).toMatchObject({
      restoreRate: REFILL * 0.25,
      refillFactor: 0.25,
      degradedSubgraphs: [{ subgraph: 'products', factor: 0.25, reason: 'breaker_open' }],
    });
    // The same client, the same bucket: an operation that does not touch products refills at full rate.
    const elsewhere = await send(gw, USERS);
    expect(elsewhere.result.body.errors).toBeUndefined();
    expect(elsewhere.throttle.restoreRate).toBe(REFILL);
    expect(elsewhere.throttle.refillFactor).toBeUndefined();
    // RateLimit-Policy states the slowed rate too: w is the seconds the whole bucket takes to refill.
    expect(degraded.result.headers.get('ratelimit-policy')).toBe(`"burst";q=10000;w=${10_000 / (REFILL * 0.25)}`);
    expect(elsewhere.result.headers.get('ratelimit-policy')).toBe(`"burst";q=10000;w=${10_000 / REFILL}`);

    expect(await metricValue(gw, 'gateway_budget_refill_factor', { subgraph: 'products' })).toBe(0.25);
    expect(await metricValue(gw, 'gateway_budget_refill_factor', { subgraph: 'users' })).toBe(1);
  });

  it('is off by default: an open breaker leaves the refill rate alone', async () => {
    const gw = await start({});
    await openProductsBreaker(gw);
    const { throttle } = await send(gw, PRODUCT);
    expect(throttle.restoreRate).toBe(REFILL);
    expect(throttle.refillFactor).toBeUndefined();
    expect(await gw.gateway.metrics.registry.getSingleMetric('gateway_budget_refill_factor')?.get()).toMatchObject({ values: [] });
  });

  it('recovers: half-open is in between, and once closed the factor climbs back to 1 over recoveryMs', async () => {
    const gw = await start(
      { enabled: true, openFactor: 0.25, halfOpenFactor: 0.5, recoveryMs: 3_000 },
      { volumeThreshold: 3, resetTimeoutMs: 400 },
    );
    await openProductsBreaker(gw);
    suite.demo.proxies.products.mode = { kind: 'pass' };
    expect(await eventually(async () => (await breakerState(gw)) === 1, 5_000)).toBe(true);

    // This operation is costed while half-open, then its call is the probe that closes the breaker.
    const probe = await send(gw, PRODUCT);
    expect(probe.throttle).toMatchObject({ refillFactor: 0.5, degradedSubgraphs: [{ subgraph: 'products', reason: 'breaker_half_open' }] });
    expect(probe.result.body.data).toEqual({ product: { upc: 'upc-0001', name: expect.any(String) } });
    expect(await breakerState(gw)).toBe(0);

    const climbing = await send(gw, PRODUCT);
    expect(climbing.throttle.degradedSubgraphs?.[0]).toMatchObject({ subgraph: 'products', reason: 'recovering' });
    expect(climbing.throttle.refillFactor).toBeGreaterThanOrEqual(0.5);
    expect(climbing.throttle.refillFactor).toBeLessThan(1);

    expect(
      await eventually(async () => {
        const { throttle } = await send(gw, PRODUCT);
        return throttle.refillFactor === undefined && throttle.restoreRate === REFILL;
      }, 10_000),
    ).toBe(true);
    expect(await metricValue(gw, 'gateway_budget_refill_factor', { subgraph: 'products' })).toBe(1);
  });

  it("slows the refill while a subgraph's p95 latency is over the threshold", async () => {
    const gw = await start({ enabled: true, latencyThresholdMs: 100, latencyFactor: 0.5, latencyMinSamples: 3 });
    suite.demo.proxies.products.mode = { kind: 'slow', ms: 200 };
    for (let i = 0; i < 3; i++) {
      const { throttle } = await send(gw, PRODUCT);
      expect(throttle.refillFactor).toBeUndefined(); // fewer than latencyMinSamples calls so far
    }
    // The p95 is reused for a second (recomputeAfterMs), so wait for it to be recomputed.
    expect(await eventually(async () => (await send(gw, PRODUCT)).throttle.refillFactor === 0.5, 5_000)).toBe(true);
    const { throttle } = await send(gw, PRODUCT);
    expect(throttle).toMatchObject({
      restoreRate: REFILL * 0.5,
      degradedSubgraphs: [{ subgraph: 'products', factor: 0.5, reason: 'slow' }],
    });
    expect((await send(gw, USERS)).throttle.refillFactor).toBeUndefined();
  });
});

describe('adaptive budget parts', () => {
  const settings = {
    enabled: true,
    openFactor: 0.2,
    halfOpenFactor: 0.6,
    latencyThresholdMs: 100,
    latencyFactor: 0.5,
    latencyWindowMs: 10_000,
    latencyMinSamples: 5,
    recoveryMs: 1_000,
  };

  it('takes the lowest factor among the subgraphs an operation uses, and ramps back linearly', () => {
    const states = new Map<string, 'open' | 'half_open' | 'closed'>([
      ['a', 'open'],
      ['b', 'half_open'],
      ['c', 'closed'],
    ]);
    const refill = new AdaptiveRefill(settings, { breakerState: (name) => states.get(name), latencyP95: () => undefined });
    expect(refill.forSubgraphs(['c'], 0)).toEqual({ factor: 1, degraded: [] });
    expect(refill.forSubgraphs(['b', 'c', 'a'], 0)).toEqual({
      factor: 0.2,
      degraded: [
        { subgraph: 'b', factor: 0.6, reason: 'breaker_half_open' },
        { subgraph: 'a', factor: 0.2, reason: 'breaker_open' },
      ],
    });
    states.set('a', 'closed');
    expect(refill.forSubgraphs(['a'], 500)).toEqual({ factor: 0.6, degraded: [{ subgraph: 'a', factor: 0.6, reason: 'recovering' }] });
    expect(refill.forSubgraphs(['a'], 1_000)).toEqual({ factor: 1, degraded: [] });
    expect([...refill.factors(1_000)]).toEqual([
      ['c', 1],
      ['b', 0.6],
      ['a', 1],
    ]);
  });

  it('scales token buckets only: a sliding window bounds totals, not pace', () => {
    const limits = [
      { name: 'burst', kind: 'token_bucket' as const, capacity: 100, refillPerSecond: 10 },
      { name: 'daily', kind: 'sliding_window' as const, limit: 1_000, windowSeconds: 86_400 },
    ];
    expect(scaleRefill(limits, 0.5)).toEqual([{ ...limits[0], refillPerSecond: 5 }, limits[1]]);
    expect(scaleRefill(limits, 1)).toBe(limits);
  });

  it('computes the p95 over the window only, and not before enough samples', () => {
    const latencies = new SubgraphLatencies({ recomputeAfterMs: 0 });
    for (let i = 1; i <= 4; i++) latencies.record('s', i * 10, 1_000);
    expect(latencies.p95('s', 10_000, 5, 1_000)).toBeUndefined();
    for (let i = 5; i <= 100; i++) latencies.record('s', i * 10, 1_000);
    expect(latencies.p95('s', 10_000, 5, 1_000)).toBe(950);
    // Only the last ten are inside a window that starts after the first 90.
    for (let i = 1; i <= 10; i++) latencies.record('s', 5, 20_000);
    expect(latencies.p95('s', 10_000, 5, 20_000)).toBe(5);
    expect(latencies.p95('other', 10_000, 1)).toBeUndefined();
  });

  it('knows which subgraphs resolve each field of the demo supergraph', () => {
    const owners = FieldOwners.fromSupergraph(readFileSync(DEMO_SUPERGRAPH, 'utf8'));
    expect(owners.subgraphsOf(['Query.users', 'User.name'])).toEqual(['users']);
    // An order's line items come from orders; the product's name from products.
    expect(owners.subgraphsOf(['Query.order', 'Order.items', 'LineItem.product', 'Product.name'])).toEqual(['orders', 'products']);
    expect(owners.subgraphsOf(['Query.__typename', 'Nope.nothing'])).toEqual([]);
  });
});
