import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { TestGateway } from './helpers/gateway.js';
import { eventually, metricValue, postAsOperator, useFaultyDemo, timed } from './helpers/resilience.js';

const suite = useFaultyDemo();

const productQuery = (n: number) => `{ product(upc: "upc-${String(n).padStart(4, '0')}") { upc name price } }`;
const breakerState = (g: TestGateway) => metricValue(g, 'gateway_circuit_breaker_state', { subgraph: 'products' });

describe('breakers that see what callers see', () => {
  it('open within one timeout when a hung subgraph fails one call shared by many identical queries', async () => {
    const gw = await suite.start({
      // No cached copies: every caller waits for the call, as without stale-if-slow.
      resilience: { subgraphDefaults: { retry: { maxRetries: 0 }, fallback: { cache: false } } },
      subgraphs: { products: { timeoutMs: 1_000, breaker: { volumeThreshold: 5, resetTimeoutMs: 60_000 } } },
    });
    const proxy = suite.demo.proxies.products;
    proxy.mode = { kind: 'slow', ms: 10_000 }; // hung: answers long after the timeout
    const results = await Promise.all(Array.from({ length: 12 }, () => postAsOperator(gw.graphqlUrl, { query: productQuery(1) })));
    for (const result of results) expect(result.body.errors?.[0]?.extensions).toMatchObject({ code: 'SUBGRAPH_UNAVAILABLE' });
    // Fewer calls reached the subgraph than the breaker's volumeThreshold (one, unless the machine spread
    // the requests over more than a timeout); each stood for every caller that waited for it.
    expect(proxy.hits).toBeLessThan(5);
    const calls = proxy.hits;
    const shared = await metricValue(gw, 'gateway_subgraph_deduplicated_total', { subgraph: 'products' });
    expect(shared).toBeGreaterThanOrEqual(4);
    expect(await breakerState(gw)).toBe(2);
    expect(gw.logs.find((l) => l.msg === 'circuit breaker rule fired' && l.subgraph === 'products')).toHaveLength(1);

    // Open: the next requests make no call at all.
    const refused = await postAsOperator(gw.graphqlUrl, { query: productQuery(2) });
    expect(refused.body.errors?.[0]?.extensions).toMatchObject({ code: 'SUBGRAPH_UNAVAILABLE' });
    expect(proxy.hits).toBe(calls);
    expect(await metricValue(gw, 'gateway_subgraph_requests_total', { subgraph: 'products', result: 'breaker_open' })).toBe(1);
    // The breaker's opening was logged at warn; a call it refuses is not, lest every request log one during an incident.
    expect(gw.logs.find((l) => l.msg === 'subgraph call failed' && l.result === 'breaker_open')).toHaveLength(0);
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

/** A gateway whose debug log says each soft deadline a copy was served at. */
const startLoggingDeadlines = (softDeadlineMs: number) =>
  suite.start({
    logging: { level: 'debug' },
    resilience: { subgraphDefaults: { retry: { maxRetries: 0 } } },
    subgraphs: { products: { timeoutMs: 5_000, staleIfSlow: { softDeadlineMs } } },
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
        products: { timeoutMs: 10_000, staleIfSlow: { adaptive: true, softDeadlineMs: 30_000, percentile: 99, factor: 2, floorMs: 100 } },
      },
    });
    const proxy = suite.demo.proxies.products;
    // 20 quick calls teach it the subgraph's latency (a few ms): the deadline drops to the floor.
    const quick = await Promise.all(Array.from({ length: 20 }, (_, i) => postAsOperator(gw.graphqlUrl, { query: productQuery(i + 1) })));
    for (const result of quick) expect(result.body.errors).toBeUndefined();
    await new Promise((resolve) => setTimeout(resolve, 300)); // the percentile is recomputed every 250 ms
    proxy.mode = { kind: 'slow', ms: 8_000 };
    const stale = await postAsOperator(gw.graphqlUrl, { query: productQuery(3) });
    // The fixed bound (30 s) is past the timeout: without the adaptive deadline it would wait for the live answer.
    expect(stale.body.extensions).toMatchObject({ fallbacks: [{ subgraph: 'products', source: 'cache', reason: 'slow' }] });
    expect(proxy.inFlight).toBe(1);
  });

  it('counts a slow call shared by many identical queries once for each of them', async () => {
    const soft = 300;
    const gw = await startLoggingDeadlines(soft);
    const proxy = suite.demo.proxies.products;
    const query = productQuery(11);
    expect((await postAsOperator(gw.graphqlUrl, { query })).body.errors).toBeUndefined(); // a copy
    proxy.mode = { kind: 'slow', ms: 3 * soft };
    const hitsBefore = proxy.hits;
    // Six identical queries at once: one call, which six requests waited for.
    const shared = await Promise.all(Array.from({ length: 6 }, () => postAsOperator(gw.graphqlUrl, { query })));
    for (const result of shared) expect(result.body.extensions).toMatchObject({ fallbacks: [{ reason: 'slow' }] });
    await eventually(async () => proxy.inFlight === 0);
    expect(proxy.hits - hitsBefore).toBe(1);
    expect((await postAsOperator(gw.graphqlUrl, { query })).body.extensions).toMatchObject({ fallbacks: [{ reason: 'slow' }] });
    const deadlines = gw.logs.find((l) => l.msg === 'subgraph call slow; serving the cached copy').map((l) => l.softDeadlineMs);
    expect(deadlines).toEqual([soft, soft, soft, soft, soft, soft, 0]);
  });

  it('serves the copy without waiting while the subgraph is known to be slow, and waits again once its calls are quick', async () => {
    const soft = 300;
    const gw = await startLoggingDeadlines(soft);
    const proxy = suite.demo.proxies.products;
    const products = Array.from({ length: 8 }, (_, i) => productQuery(i + 1));
    const ask = (query: string) => postAsOperator(gw.graphqlUrl, { query });
    const settled = () => eventually(async () => proxy.inFlight === 0);
    const deadlines = () => gw.logs.find((l) => l.msg === 'subgraph call slow; serving the cached copy').map((l) => l.softDeadlineMs);
    for (const query of products) expect((await ask(query)).body.errors).toBeUndefined(); // warm copies

    proxy.mode = { kind: 'slow', ms: 3 * soft };
    // Each waits the soft deadline, gets its copy, and its live call is timed at about 900 ms.
    for (const query of products.slice(0, 5)) {
      expect((await ask(query)).body.extensions).toMatchObject({ fallbacks: [{ reason: 'slow' }] });
    }
    await settled();
    expect(deadlines()).toEqual([soft, soft, soft, soft, soft]);
    // Five of the latest calls took longer than the deadline: the next copies are served at once.
    for (const query of products.slice(5)) {
      expect((await ask(query)).body.extensions).toMatchObject({ fallbacks: [{ reason: 'slow' }] });
    }
    expect(deadlines().slice(5)).toEqual([0, 0, 0]);

    // Quick again: the live calls that still go on are timed, and the median comes back under the deadline.
    proxy.mode = { kind: 'pass' };
    await settled();
    for (const query of products) await ask(query);
    await settled();
    const live = await ask(products[0] as string);
    expect(live.body.errors).toBeUndefined();
    expect(live.body.extensions).toBeUndefined();
  });
});

describe("the example of docs/resilience.md ('A slow subgraph: stale-if-slow')", () => {
  it('gives exactly the answer the page shows', async () => {
    const page = readFileSync(new URL('../docs/resilience.md', import.meta.url), 'utf8');
    const section = page.split('## A slow subgraph: stale-if-slow')[1]?.split('\n## ')[0] ?? '';
    const query = JSON.parse(/-d '(.+)'/.exec(section)?.[1] ?? 'null') as { query: string } | null;
    const shown = /```json\n([\s\S]+?)\n```/.exec(section)?.[1];
    const header = /x-fallback-source: (.+)/.exec(section)?.[1];
    expect(query && shown && header).toBeTruthy();

    const gw = await suite.start({ subgraphs: { products: { staleIfSlow: { softDeadlineMs: 300 } } } });
    expect((await postAsOperator(gw.graphqlUrl, query!)).body.errors).toBeUndefined();
    suite.demo.proxies.products.mode = { kind: 'slow', ms: 2_000 };
    const result = await postAsOperator(gw.graphqlUrl, query!);
    expect(suite.demo.proxies.products.inFlight).toBe(1); // answered while the live call was out
    // Ages are seconds since the copy was stored: 2 in the page's run, 0 here.
    const ageless = (body: unknown) =>
      JSON.parse(JSON.stringify(body), (key, value: unknown) => (key === 'age' && typeof value === 'number' ? 'N' : value)) as unknown;
    expect(ageless(result.body)).toEqual(ageless(JSON.parse(shown!)));
    expect(result.headers.get('x-fallback-source')).toBe(header);
  });
});
