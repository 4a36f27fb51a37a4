import { describe, expect, it } from 'vitest';
import type { TestGateway } from './helpers/gateway.js';
import { eventually, metricValue, postAsOperator, useFaultyDemo } from './helpers/resilience.js';

const suite = useFaultyDemo();

const productQuery = (n: number) => `{ product(upc: "upc-${String(n).padStart(4, '0')}") { upc name price } }`;
const breakerState = (g: TestGateway) => metricValue(g, 'gateway_circuit_breaker_state', { subgraph: 'products' });

describe('breakers after a busy, healthy period', () => {
  it('open within one timeout of a hang even when the window is full of the answered calls before it', async () => {
    const gw = await suite.start({
      responseCache: { enabled: false },
      resilience: { subgraphDefaults: { retry: { maxRetries: 0 }, fallback: { cache: false } } },
      // Default rules; only the timeout is short, and the breaker stays open for the rest of the test.
      // A timeout a loaded machine does not reach while products is healthy.
      subgraphs: { products: { timeoutMs: 3_000, breaker: { resetTimeoutMs: 60_000 } } },
    });
    const proxy = suite.demo.proxies.products;
    // A busy, healthy minute: 60 answered calls in the rolling window.
    for (let batch = 0; batch < 6; batch++) {
      const answers = await Promise.all(
        Array.from({ length: 10 }, (_, i) => postAsOperator(gw.graphqlUrl, { query: productQuery(i + 1) })),
      );
      for (const answer of answers) expect(answer.body.errors).toBeUndefined();
    }
    expect(proxy.hits).toBe(60);
    // Hung: the next wave of identical requests shares one call, which times out.
    proxy.mode = { kind: 'slow', ms: 10_000 };
    const wave = await Promise.all(Array.from({ length: 25 }, () => postAsOperator(gw.graphqlUrl, { query: productQuery(1) })));
    for (const result of wave) expect(result.body.errors?.[0]?.extensions).toMatchObject({ code: 'SUBGRAPH_UNAVAILABLE' });
    // Weighted, those failures are 25 against 60 successes: under the failure rate, but 25 failures in a row.
    expect(await breakerState(gw)).toBe(2);
    expect(gw.logs.find((l) => l.msg === 'circuit breaker rule fired' && l.subgraph === 'products')[0]).toMatchObject({
      rule: 'consecutive_failures',
    });
    const calls = proxy.hits;
    await postAsOperator(gw.graphqlUrl, { query: productQuery(2) });
    expect(proxy.hits).toBe(calls);
  });

  it('once open, answer at once: a request does not join a call still hanging from before the breaker opened', async () => {
    const gw = await suite.start({
      responseCache: { enabled: false },
      resilience: { subgraphDefaults: { retry: { maxRetries: 0 }, staleIfSlow: { enabled: false } } },
      subgraphs: { products: { timeoutMs: 3_000, breaker: { consecutiveFailures: 1, resetTimeoutMs: 60_000 } } },
    });
    const proxy = suite.demo.proxies.products;
    // Copies of both queries, for the fallbacks.
    for (const n of [1, 2]) expect((await postAsOperator(gw.graphqlUrl, { query: productQuery(n) })).body.errors).toBeUndefined();
    await new Promise((resolve) => setTimeout(resolve, 100)); // copies are written without waiting
    proxy.mode = { kind: 'slow', ms: 10_000 };
    // The first call hangs and its timeout opens the breaker while the second, started later, still hangs.
    const first = postAsOperator(gw.graphqlUrl, { query: productQuery(2) });
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const second = postAsOperator(gw.graphqlUrl, { query: productQuery(1) });
    expect(await eventually(async () => (await breakerState(gw)) === 2, 10_000)).toBe(true);
    expect(await eventually(() => proxy.inFlight === 1)).toBe(true);

    const third = await postAsOperator(gw.graphqlUrl, { query: productQuery(1) });
    expect((third.body.extensions as { fallbacks?: unknown } | undefined)?.fallbacks).toMatchObject([
      { subgraph: 'products', source: 'cache', reason: 'error' },
    ]);
    // Refused by the open breaker at once, instead of sharing the hung call until its timeout.
    expect(await metricValue(gw, 'gateway_subgraph_deduplicated_total', { subgraph: 'products' })).toBe(0);
    expect(await metricValue(gw, 'gateway_subgraph_requests_total', { subgraph: 'products', result: 'breaker_open' })).toBe(1);
    await Promise.all([first, second]);
  });
});
