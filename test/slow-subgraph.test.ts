import { describe, expect, it } from 'vitest';
import { metricValue, postAsOperator, useFaultyDemo, timed } from './helpers/resilience.js';

const suite = useFaultyDemo();

const productQuery = (n: number) => `{ product(upc: "upc-${String(n).padStart(4, '0')}") { upc name } }`;
const USERS_ONLY = '{ users(first: 3) { totalCount edges { node { id name } } } }';

describe('a slow subgraph', () => {
  it('is cut by its timeout, which counts against its breaker', async () => {
    const delay = 3_000;
    const gw = await suite.start({
      resilience: { subgraphDefaults: { retry: { maxRetries: 2 }, fallback: { cache: false } } },
      subgraphs: { products: { timeoutMs: 200, breaker: { volumeThreshold: 2, resetTimeoutMs: 60_000 } } },
    });
    suite.demo.proxies.products.mode = { kind: 'slow', ms: delay };
    const { value: result, ms } = await timed(() => postAsOperator(gw.graphqlUrl, { query: productQuery(1) }));
    expect(result.body.data).toEqual({ product: null });
    expect(result.body.errors?.[0]?.extensions).toMatchObject({ code: 'SUBGRAPH_UNAVAILABLE', subgraph: 'products' });
    // The answer comes long before the subgraph would have (a ratio of the injected delay, not a wall-clock bound).
    expect(ms / delay).toBeLessThan(0.5);
    expect(await metricValue(gw, 'gateway_subgraph_requests_total', { subgraph: 'products', result: 'timeout' })).toBe(1);
    // Timeouts are not retried: one attempt reached the subgraph.
    expect(suite.demo.proxies.products.hits).toBe(1);
    expect(gw.logs.find((l) => l.msg === 'subgraph call failed' && l.result === 'timeout')).toHaveLength(1);

    await postAsOperator(gw.graphqlUrl, { query: productQuery(2) });
    expect(await metricValue(gw, 'gateway_circuit_breaker_state', { subgraph: 'products' })).toBe(2);
  });

  it('is cut at the request deadline when that comes before its own timeout', async () => {
    const delay = 3_000;
    const gw = await suite.start({
      resilience: { requestDeadlineMs: 300, subgraphDefaults: { fallback: { cache: false } } },
      subgraphs: { products: { timeoutMs: 10_000 } },
    });
    suite.demo.proxies.products.mode = { kind: 'slow', ms: delay };
    const { value: result, ms } = await timed(() => postAsOperator(gw.graphqlUrl, { query: productQuery(1) }));
    expect(result.body.errors?.[0]?.extensions?.code).toBe('SUBGRAPH_UNAVAILABLE');
    expect(ms / delay).toBeLessThan(0.5);
    expect(await metricValue(gw, 'gateway_subgraph_requests_total', { subgraph: 'products', result: 'timeout' })).toBe(1);
  });

  it('cannot take more than its bulkhead of concurrent calls; calls over the cap fail fast and do not trip the breaker', async () => {
    const gw = await suite.start({
      resilience: { subgraphDefaults: { retry: { maxRetries: 0 }, fallback: { cache: false } } },
      subgraphs: { products: { timeoutMs: 10_000, bulkhead: { maxConcurrent: 2 }, breaker: { volumeThreshold: 1 } } },
    });
    suite.demo.proxies.products.mode = { kind: 'slow', ms: 2_500 };
    // Distinct queries, so that dedupe does not merge them.
    const results = await Promise.all([1, 2, 3, 4, 5, 6].map((n) => postAsOperator(gw.graphqlUrl, { query: productQuery(n) })));
    expect(suite.demo.proxies.products.maxInFlight).toBe(2);
    expect(suite.demo.proxies.products.hits).toBe(2);
    expect(results.filter((r) => r.body.errors === undefined)).toHaveLength(2);
    const rejected = results.filter((r) => r.body.errors?.[0]?.extensions?.code === 'SUBGRAPH_UNAVAILABLE');
    expect(rejected).toHaveLength(4);
    expect(await metricValue(gw, 'gateway_subgraph_requests_total', { subgraph: 'products', result: 'bulkhead_rejected' })).toBe(4);
    expect(await metricValue(gw, 'gateway_circuit_breaker_state', { subgraph: 'products' })).toBe(0);
  });

  it("leaves other subgraphs' latency unaffected", async () => {
    const delay = 4_000;
    const gw = await suite.start({ subgraphs: { products: { timeoutMs: 10_000, bulkhead: { maxConcurrent: 4 } } } });
    for (let i = 0; i < 3; i++) expect((await postAsOperator(gw.graphqlUrl, { query: USERS_ONLY })).body.errors).toBeUndefined();

    suite.demo.proxies.products.mode = { kind: 'slow', ms: delay };
    // Fill products' bulkhead (and more) with slow calls, then ask users while they hang.
    let slowAnswered = 0;
    const slow = Promise.all(
      [1, 2, 3, 4, 5, 6, 7, 8].map((n) => postAsOperator(gw.graphqlUrl, { query: productQuery(n) }).finally(() => (slowAnswered += 1))),
    );
    while (suite.demo.proxies.products.inFlight === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    for (let i = 0; i < 10; i++) {
      const { body } = await postAsOperator(gw.graphqlUrl, { query: USERS_ONLY });
      expect(body.errors).toBeUndefined();
      // Answered while products calls still hang: users did not wait for them (an order, not a stopwatch).
      expect(suite.demo.proxies.products.inFlight).toBeGreaterThan(0);
    }
    // The calls over the bulkhead were refused at once; those in it still hang.
    expect(slowAnswered).toBeLessThanOrEqual(4);
    await slow;
  });
});
