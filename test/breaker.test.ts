import { describe, expect, it } from 'vitest';
import type { TestGateway } from './helpers/gateway.js';
import { eventually, metricValue, postAsOperator, useFaultyDemo } from './helpers/resilience.js';

const suite = useFaultyDemo();

const productQuery = (n: number) => `{ product(upc: "upc-${String(n).padStart(4, '0')}") { upc name } }`;
const breakerState = (g: TestGateway) => metricValue(g, 'gateway_circuit_breaker_state', { subgraph: 'products' });

describe('circuit breaker per subgraph', () => {
  it('opens after the threshold, and then no call reaches the dead address while it is open', async () => {
    const gw = await suite.start({
      resilience: { subgraphDefaults: { retry: { maxRetries: 0 }, fallback: { cache: false } } },
      subgraphs: { products: { breaker: { volumeThreshold: 4, errorThresholdPercentage: 50, resetTimeoutMs: 60_000 } } },
      // /health and /ready show breakers only with the detail switch on.
      server: { readinessDetail: true },
    });
    expect(await breakerState(gw)).toBe(0);
    suite.demo.proxies.products.mode = { kind: 'reset' };

    let sent = 0;
    while ((await breakerState(gw)) !== 2 && sent < 20) {
      const result = await postAsOperator(gw.graphqlUrl, { query: productQuery(sent + 1) });
      expect(result.body.errors?.[0]?.extensions).toMatchObject({ code: 'SUBGRAPH_UNAVAILABLE', subgraph: 'products' });
      sent++;
    }
    expect(await breakerState(gw)).toBe(2);
    expect(sent).toBe(4); // volumeThreshold failures, all of them reaching the subgraph
    const hitsWhenOpened = suite.demo.proxies.products.hits;
    expect(hitsWhenOpened).toBe(4);

    for (let i = 0; i < 10; i++) {
      const result = await postAsOperator(gw.graphqlUrl, { query: `{ users(first: 1) { totalCount } } ` });
      expect(result.body.errors).toBeUndefined(); // other subgraphs are served normally
      const refused = await postAsOperator(gw.graphqlUrl, { query: productQuery(50 + i) });
      expect(refused.status).toBe(200);
      expect(refused.body.data).toEqual({ product: null });
      expect(refused.body.errors?.[0]?.extensions).toMatchObject({ code: 'SUBGRAPH_UNAVAILABLE', subgraph: 'products' });
    }
    expect(suite.demo.proxies.products.hits).toBe(hitsWhenOpened);
    expect(await metricValue(gw, 'gateway_subgraph_requests_total', { subgraph: 'products', result: 'breaker_open' })).toBe(10);
    expect(gw.logs.find((l) => l.msg === 'circuit breaker open' && l.subgraph === 'products')).toHaveLength(1);

    const health = (await (await fetch(`${gw.url}/health`)).json()) as {
      status: string;
      subgraphs: Record<string, { breaker: string; errorRate: number }>;
    };
    expect(health.status).toBe('ok');
    expect(health.subgraphs.products).toEqual({ breaker: 'open', errorRate: 1 });
    expect(health.subgraphs.users).toEqual({ breaker: 'closed', errorRate: 0 });
    const ready = (await (await fetch(`${gw.url}/ready`)).json()) as { subgraphs: { name: string; breaker: Record<string, unknown> }[] };
    expect(ready.subgraphs.find((s) => s.name === 'products')?.breaker).toMatchObject({
      state: 'open',
      errorRate: 1,
      failures: 4,
      rejected: 10,
    });
  });

  it('opens on a killed subgraph, and makes no call while open even once the address answers again', async () => {
    const gw = await suite.start({
      resilience: { subgraphDefaults: { retry: { maxRetries: 0 }, fallback: { cache: false } } },
      subgraphs: { products: { breaker: { volumeThreshold: 3, resetTimeoutMs: 60_000 } } },
    });
    const cross = '{ user(id: "user-2") { id orders(first: 1) { edges { node { id items { product { upc name } } } } } } }';
    await suite.demo.proxies.products.kill();
    for (let i = 0; i < 10 && (await breakerState(gw)) !== 2; i++) {
      const result = await postAsOperator(gw.graphqlUrl, { query: cross });
      expect((result.body.data?.user as { id: string }).id).toBe('user-2'); // users and orders still answer
    }
    expect(await breakerState(gw)).toBe(2);
    expect(await metricValue(gw, 'gateway_subgraph_requests_total', { subgraph: 'products', result: 'network_error' })).toBe(3);

    // The address is alive again (and counting), but the breaker is open: nothing reaches it.
    await suite.demo.proxies.products.revive();
    suite.demo.proxies.products.resetCounters();
    for (let i = 0; i < 5; i++) {
      const result = await postAsOperator(gw.graphqlUrl, { query: cross });
      expect(result.body.errors?.[0]?.extensions).toMatchObject({ code: 'SUBGRAPH_UNAVAILABLE', subgraph: 'products' });
    }
    expect(suite.demo.proxies.products.hits).toBe(0);
    expect(await metricValue(gw, 'gateway_subgraph_requests_total', { subgraph: 'products', result: 'breaker_open' })).toBe(5);
  });

  it('recovers: after the reset timeout one half-open probe goes through, the breaker closes, fresh data is served', async () => {
    const gw = await suite.start({
      resilience: { subgraphDefaults: { retry: { maxRetries: 0 } } },
      subgraphs: { products: { breaker: { volumeThreshold: 3, resetTimeoutMs: 500 } } },
    });
    const warm = await postAsOperator(gw.graphqlUrl, { query: productQuery(1) });
    expect(warm.body.errors).toBeUndefined();

    suite.demo.proxies.products.mode = { kind: 'status', status: 503 };
    for (let i = 0; i < 10 && (await breakerState(gw)) !== 2; i++) await postAsOperator(gw.graphqlUrl, { query: productQuery(1) });
    expect(await breakerState(gw)).toBe(2);
    // While open, the warm copy is served from the cache.
    const whileOpen = await postAsOperator(gw.graphqlUrl, { query: productQuery(1) });
    expect(whileOpen.body.data).toEqual(warm.body.data);
    expect(whileOpen.headers.get('x-fallback-source')).toBe('cache');

    // The subgraph comes back, slowly enough that concurrent calls meet the probe in flight.
    suite.demo.proxies.products.mode = { kind: 'slow', ms: 1_000 };
    expect(await eventually(async () => (await breakerState(gw)) === 1, 5_000)).toBe(true);
    expect(gw.logs.find((l) => l.msg === 'circuit breaker half-open')).toHaveLength(1);
    const hitsBefore = suite.demo.proxies.products.hits;
    const concurrent = await Promise.all([2, 3, 4, 5, 6].map((n) => postAsOperator(gw.graphqlUrl, { query: productQuery(n) })));
    expect(suite.demo.proxies.products.hits - hitsBefore).toBe(1); // one probe, the others refused without a call
    expect(concurrent.filter((r) => r.body.errors === undefined)).toHaveLength(1);
    expect(await breakerState(gw)).toBe(0);
    expect(gw.logs.find((l) => l.msg === 'circuit breaker closed')).toHaveLength(1);

    suite.demo.proxies.products.mode = { kind: 'pass' };
    const fresh = await postAsOperator(gw.graphqlUrl, { query: productQuery(1) });
    expect(fresh.body).toEqual(warm.body);
    expect(fresh.headers.get('x-fallback-source')).toBeNull();
    expect(suite.demo.proxies.products.hits - hitsBefore).toBe(2);
  });

  it('does not count GraphQL errors in a 200, nor 4xx answers, as failures', async () => {
    const gw = await suite.start({
      resilience: { subgraphDefaults: { retry: { maxRetries: 0 } } },
      subgraphs: { products: { breaker: { volumeThreshold: 3, resetTimeoutMs: 60_000 } } },
    });
    for (let i = 0; i < 8; i++) {
      // Allowed by the gateway's cost limits, refused by the subgraph (first must be 0..100): a GraphQL error in a 200.
      const result = await postAsOperator(gw.graphqlUrl, { query: '{ topProducts(first: -1) { upc } }' });
      expect(result.body.errors?.length).toBeGreaterThan(0);
    }
    suite.demo.proxies.products.mode = { kind: 'status', status: 400 };
    for (let i = 0; i < 8; i++) await postAsOperator(gw.graphqlUrl, { query: productQuery(i) });
    expect(suite.demo.proxies.products.hits).toBe(16);
    expect(await breakerState(gw)).toBe(0);
    expect(await metricValue(gw, 'gateway_subgraph_requests_total', { subgraph: 'products', result: 'graphql_error' })).toBe(8);
    expect(await metricValue(gw, 'gateway_subgraph_requests_total', { subgraph: 'products', result: 'http_error' })).toBe(8);

    // 5xx answers do count: the breaker opens once they outnumber the 16 answered calls above.
    suite.demo.proxies.products.mode = { kind: 'status', status: 500 };
    let failures = 0;
    while ((await breakerState(gw)) !== 2 && failures < 40) {
      await postAsOperator(gw.graphqlUrl, { query: productQuery(failures) });
      failures++;
    }
    expect(await breakerState(gw)).toBe(2);
    expect(failures).toBe(17);
  });
});
