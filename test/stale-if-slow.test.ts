import { describe, expect, it } from 'vitest';
import type { TestGateway } from './helpers/gateway.js';
import { eventually, metricValue, postAsOperator, useFaultyDemo } from './helpers/resilience.js';

const suite = useFaultyDemo();

const productQuery = (n: number) => `{ product(upc: "upc-${String(n).padStart(4, '0')}") { upc name price } }`;
const breakerState = (g: TestGateway) => metricValue(g, 'gateway_circuit_breaker_state', { subgraph: 'products' });

async function timed<T>(run: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await run();
  return { value, ms: performance.now() - started };
}

describe('breakers that see what callers see', () => {
  it('open within one timeout when a hung subgraph fails one call shared by many identical queries', async () => {
    const gw = await suite.start({
      // No cached copies: every caller waits for the call, as without stale-if-slow.
      resilience: { subgraphDefaults: { retry: { maxRetries: 0 }, fallback: { cache: false } } },
      subgraphs: { products: { timeoutMs: 300, breaker: { volumeThreshold: 5, resetTimeoutMs: 60_000 } } },
    });
    const proxy = suite.demo.proxies.products;
    proxy.mode = { kind: 'slow', ms: 10_000 }; // hung: answers long after the timeout
    const results = await Promise.all(Array.from({ length: 12 }, () => postAsOperator(gw.graphqlUrl, { query: productQuery(1) })));
    for (const result of results) expect(result.body.errors?.[0]?.extensions).toMatchObject({ code: 'SUBGRAPH_UNAVAILABLE' });
    // One call reached the subgraph and timed out once; it stood for every caller that waited for it.
    expect(proxy.hits).toBe(1);
    const shared = await metricValue(gw, 'gateway_subgraph_deduplicated_total', { subgraph: 'products' });
    expect(shared).toBeGreaterThanOrEqual(4);
    expect(await breakerState(gw)).toBe(2);
    expect(gw.logs.find((l) => l.msg === 'circuit breaker rule fired' && l.subgraph === 'products')).toHaveLength(1);

    // Open: the next requests make no call at all.
    const refused = await postAsOperator(gw.graphqlUrl, { query: productQuery(2) });
    expect(refused.body.errors?.[0]?.extensions).toMatchObject({ code: 'SUBGRAPH_UNAVAILABLE' });
    expect(proxy.hits).toBe(1);
    expect(await metricValue(gw, 'gateway_subgraph_requests_total', { subgraph: 'products', result: 'breaker_open' })).toBe(1);
  });

  it('open when slow calls reach slowCallRatePercentage, though every call answered', async () => {
    const gw = await suite.start({
      resilience: { subgraphDefaults: { retry: { maxRetries: 0 }, fallback: { cache: false } } },
      subgraphs: {
        products: {
          timeoutMs: 5_000,
          breaker: { volumeThreshold: 3, slowCallDurationMs: 150, slowCallRatePercentage: 60, resetTimeoutMs: 60_000 },
        },
      },
    });
    const proxy = suite.demo.proxies.products;
    proxy.mode = { kind: 'slow', ms: 400 };
    for (let n = 1; n <= 3; n++) {
      const result = await postAsOperator(gw.graphqlUrl, { query: productQuery(n) });
      expect(result.body.errors).toBeUndefined(); // answered, slowly
    }
    expect(await breakerState(gw)).toBe(2);
    expect(gw.logs.find((l) => l.msg === 'circuit breaker rule fired' && l.rule === 'slow_call_rate')).toHaveLength(1);
    const refused = await postAsOperator(gw.graphqlUrl, { query: productQuery(4) });
    expect(refused.body.errors?.[0]?.extensions).toMatchObject({ code: 'SUBGRAPH_UNAVAILABLE' });
    expect(proxy.hits).toBe(3);
  });
});

describe('stale-if-slow', () => {
  it('answers from the cached copy at the soft deadline, while the live call completes and refreshes the copy', async () => {
    const delay = 1_500;
    const gw = await suite.start({
      resilience: { subgraphDefaults: { retry: { maxRetries: 0 } } },
      subgraphs: { products: { timeoutMs: 5_000, staleIfSlow: { softDeadlineMs: 150 } } },
    });
    const proxy = suite.demo.proxies.products;
    const warm = await postAsOperator(gw.graphqlUrl, { query: productQuery(7) });
    expect(warm.body.errors).toBeUndefined();
    expect(warm.body.extensions).toBeUndefined();
    // Let the copy age a little, so that a refreshed one is recognisably younger.
    await new Promise((resolve) => setTimeout(resolve, 1_100));

    proxy.mode = { kind: 'slow', ms: delay };
    proxy.resetCounters();
    const { value: stale, ms } = await timed(() => postAsOperator(gw.graphqlUrl, { query: productQuery(7) }));
    // The live call was still out when the answer came.
    expect(proxy.inFlight).toBe(1);
    expect(ms / delay).toBeLessThan(0.75);
    expect(stale.body.data).toEqual(warm.body.data);
    expect(stale.headers.get('x-fallback-source')).toBe('cache');
    const [use] = (stale.body.extensions as { fallbacks: { age: number }[] }).fallbacks;
    expect(use).toEqual({ subgraph: 'products', source: 'cache', age: expect.any(Number), reason: 'slow' });
    expect(use!.age).toBeGreaterThanOrEqual(1);
    expect(await metricValue(gw, 'gateway_fallback_requests_total', { subgraph: 'products', source: 'cache', reason: 'slow' })).toBe(1);
    expect(await metricValue(gw, 'gateway_subgraph_requests_total', { subgraph: 'products', result: 'slow' })).toBe(1);

    // The live call completes and refreshes the copy: the next copy served is a new one.
    expect(await eventually(() => proxy.inFlight === 0, 5_000)).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const next = await postAsOperator(gw.graphqlUrl, { query: productQuery(7) });
    expect(next.body.data).toEqual(warm.body.data);
    const [again] = (next.body.extensions as { fallbacks: { age: number; reason: string }[] }).fallbacks;
    expect(again).toMatchObject({ source: 'cache', reason: 'slow', age: 0 });
    expect(proxy.hits).toBe(2);
    expect(await breakerState(gw)).toBe(0); // answered calls under half the timeout are not slow for the breaker
  });

  it('waits for the live call when no copy exists, and is never used for mutations or the calls they make', async () => {
    const delay = 600;
    const gw = await suite.start({
      resilience: { subgraphDefaults: { retry: { maxRetries: 0 } } },
      subgraphs: { products: { timeoutMs: 5_000, staleIfSlow: { softDeadlineMs: 100 } } },
    });
    const proxy = suite.demo.proxies.products;
    const mutation = 'mutation { createOrder(input: { items: [{ upc: "upc-0003", quantity: 1 }] }) { id items { product { upc name } } } }';
    // Products answers the mutation's entity call quickly once (a query's answer would be kept here).
    const first = await postAsOperator(gw.graphqlUrl, { query: mutation });
    expect(first.body.errors).toBeUndefined();

    proxy.mode = { kind: 'slow', ms: delay };
    const second = await postAsOperator(gw.graphqlUrl, { query: mutation });
    expect(second.body.errors).toBeUndefined();
    expect(second.body.extensions).toBeUndefined();
    expect(second.headers.get('x-fallback-source')).toBeNull();
    expect(proxy.inFlight).toBe(0); // it waited for the live call

    // A query with no copy waits too, and gets live data.
    const cold = await postAsOperator(gw.graphqlUrl, { query: productQuery(9) });
    expect(cold.body.errors).toBeUndefined();
    expect(cold.body.extensions).toBeUndefined();
    expect(await metricValue(gw, 'gateway_fallback_requests_total', { subgraph: 'products', source: 'cache', reason: 'slow' })).toBe(0);
  });

  it('follows the recent latency with an adaptive soft deadline', async () => {
    const gw = await suite.start({
      resilience: { subgraphDefaults: { retry: { maxRetries: 0 } } },
      subgraphs: {
        products: { timeoutMs: 5_000, staleIfSlow: { adaptive: true, softDeadlineMs: 4_000, percentile: 99, factor: 2, floorMs: 100 } },
      },
    });
    const proxy = suite.demo.proxies.products;
    // 20 quick calls teach it the subgraph's latency (a few ms): the deadline drops to the floor.
    for (let n = 1; n <= 20; n++) expect((await postAsOperator(gw.graphqlUrl, { query: productQuery(n) })).body.errors).toBeUndefined();
    proxy.mode = { kind: 'slow', ms: 1_500 };
    const stale = await postAsOperator(gw.graphqlUrl, { query: productQuery(3) });
    // With the fixed bound (4 s) it would have waited for the live answer; adaptive served the copy.
    expect(stale.body.extensions).toMatchObject({ fallbacks: [{ subgraph: 'products', source: 'cache', reason: 'slow' }] });
    expect(proxy.inFlight).toBe(1);
  });
});
