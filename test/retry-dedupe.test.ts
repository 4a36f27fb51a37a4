import { describe, expect, it } from 'vitest';
import { withRetries } from '../gateway/src/upstream/retry.js';
import { postGraphql } from './helpers/gateway.js';
import { freePort } from './helpers/ports.js';
import { devBearer } from './helpers/auth.js';
import { metricValue, postAsOperator, useFaultyDemo } from './helpers/resilience.js';

const suite = useFaultyDemo();

const PRODUCT = '{ product(upc: "upc-0001") { upc name price } }';
const CREATE_ORDER = 'mutation { createOrder(input: { items: [{ upc: "upc-0001", quantity: 1 }] }) { id } }';
const RETRYING = {
  resilience: {
    subgraphDefaults: { retry: { maxRetries: 2, baseDelayMs: 5, maxDelayMs: 20 }, breaker: { enabled: false }, fallback: { cache: false } },
  },
};

describe('retries', () => {
  it.each([502, 503, 504])('retry a query after HTTP %i, at most maxRetries times', async (status) => {
    const gw = await suite.start(RETRYING);
    suite.demo.proxies.products.mode = { kind: 'status', status };
    const result = await postAsOperator(gw.graphqlUrl, { query: PRODUCT });
    expect(result.body.errors?.[0]?.extensions?.code).toBe('SUBGRAPH_UNAVAILABLE');
    expect(suite.demo.proxies.products.hits).toBe(3);
    expect(await metricValue(gw, 'gateway_subgraph_retries_total', { subgraph: 'products' })).toBe(2);
  });

  it('retry a query after a connection reset, and the client gets the data when a retry succeeds', async () => {
    const gw = await suite.start(RETRYING);
    suite.demo.proxies.products.mode = { kind: 'reset' };
    await postAsOperator(gw.graphqlUrl, { query: PRODUCT });
    expect(suite.demo.proxies.products.hits).toBe(3);

    suite.demo.proxies.products.resetCounters();
    suite.demo.proxies.products.mode = { kind: 'flaky', status: 503, times: 2 };
    const recovered = await postAsOperator(gw.graphqlUrl, { query: PRODUCT });
    expect(recovered.body.errors).toBeUndefined();
    expect((recovered.body.data?.product as { upc: string }).upc).toBe('upc-0001');
    expect(suite.demo.proxies.products.hits).toBe(3);
  });

  it('do not happen after HTTP 500 (the subgraph answered that it failed)', async () => {
    const gw = await suite.start(RETRYING);
    suite.demo.proxies.products.mode = { kind: 'status', status: 500 };
    await postAsOperator(gw.graphqlUrl, { query: PRODUCT });
    expect(suite.demo.proxies.products.hits).toBe(1);
  });

  it('never happen for mutations', async () => {
    const gw = await suite.start(RETRYING);
    suite.demo.proxies.orders.mode = { kind: 'status', status: 503 };
    const result = await postAsOperator(gw.graphqlUrl, { query: CREATE_ORDER });
    expect(result.body.errors?.[0]?.extensions).toMatchObject({ code: 'SUBGRAPH_UNAVAILABLE', subgraph: 'orders' });
    expect(suite.demo.proxies.orders.hits).toBe(1);
    suite.demo.proxies.orders.mode = { kind: 'reset' };
    await postAsOperator(gw.graphqlUrl, { query: CREATE_ORDER });
    expect(suite.demo.proxies.orders.hits).toBe(2);
    expect(await metricValue(gw, 'gateway_subgraph_retries_total', { subgraph: 'orders' })).toBe(0);
  });

  it('happen for a mutation only when it cannot have reached the subgraph: a refused connection', async () => {
    const gw = await suite.start(RETRYING);
    await suite.demo.proxies.orders.kill();
    const refused = await postAsOperator(gw.graphqlUrl, { query: CREATE_ORDER });
    expect(refused.body.errors?.[0]?.extensions).toMatchObject({ code: 'SUBGRAPH_UNAVAILABLE', subgraph: 'orders' });
    expect(await metricValue(gw, 'gateway_subgraph_retries_total', { subgraph: 'orders' })).toBe(2);
    expect(suite.demo.proxies.orders.hits).toBe(0);
  });

  it('send a mutation whose connection to one replica was refused to another, once', async () => {
    const refusing = `http://127.0.0.1:${await freePort()}/graphql`;
    const gw = await suite.start({
      ...RETRYING,
      subgraphs: {
        orders: {
          url: undefined,
          upstreams: [{ url: refusing }, { url: suite.demo.proxies.orders.url }],
          loadBalancing: { strategy: 'round_robin', healthCheck: { enabled: false }, ejection: { consecutiveFailures: 0 } },
        },
      },
    });
    for (let i = 0; i < 2; i++) {
      const placed = await postAsOperator(gw.graphqlUrl, { query: CREATE_ORDER });
      expect(placed.body.errors).toBeUndefined();
      expect((placed.body.data?.createOrder as { id?: string } | undefined)?.id).toEqual(expect.any(String));
    }
    // Round robin sent at least one of the two to the refusing replica first; each reached the subgraph once.
    expect(suite.demo.proxies.orders.hits).toBe(2);
    expect(await metricValue(gw, 'gateway_subgraph_retries_total', { subgraph: 'orders' })).toBeGreaterThanOrEqual(1);
  });

  it('back off with full jitter under the cap, and never start after the deadline', async () => {
    const delays: number[] = [];
    let attempts = 0;
    const failing = () => {
      attempts++;
      return Promise.reject(new Error('down'));
    };
    await expect(
      withRetries(failing, {
        maxRetries: 4,
        baseDelayMs: 10,
        maxDelayMs: 25,
        deadline: Date.now() + 5_000,
        isRetryable: () => true,
        random: () => 0.999,
        onRetry: (_n, _e, d) => delays.push(d),
      }),
    ).rejects.toThrow('down');
    expect(attempts).toBe(5);
    expect(delays).toEqual([10, 20, 25, 25]);

    attempts = 0;
    await expect(
      withRetries(failing, {
        maxRetries: 4,
        baseDelayMs: 1_000,
        maxDelayMs: 1_000,
        deadline: Date.now() + 100,
        isRetryable: () => true,
        random: () => 0.5,
      }),
    ).rejects.toThrow('down');
    expect(attempts).toBe(1);
  });
});

describe('in-flight deduplication', () => {
  it('makes identical concurrent queries share one call', async () => {
    const gw = await suite.start({});
    suite.demo.proxies.products.mode = { kind: 'slow', ms: 1_000 };
    const results = await Promise.all(Array.from({ length: 5 }, () => postAsOperator(gw.graphqlUrl, { query: PRODUCT })));
    expect(suite.demo.proxies.products.hits).toBe(1);
    for (const result of results) expect(result.body).toEqual(results[0]?.body);
    expect(results[0]?.body.errors).toBeUndefined();
    expect(await metricValue(gw, 'gateway_subgraph_deduplicated_total', { subgraph: 'products' })).toBe(4);
  });

  it('keeps calls of different identities apart', async () => {
    const gw = await suite.start({});
    suite.demo.proxies.products.mode = { kind: 'slow', ms: 1_000 };
    const users = ['user-1', 'user-1', 'user-2', 'user-2'];
    const tokens = await Promise.all(users.map((id) => devBearer(id)));
    await Promise.all(tokens.map((token) => postGraphql(gw.graphqlUrl, { query: PRODUCT }, token)));
    expect(suite.demo.proxies.products.hits).toBe(2);
    expect(suite.demo.proxies.products.requests.map((r) => r.headers['x-user-id']).sort()).toEqual(['user-1', 'user-2']);
  });

  it('can be turned off, and never merges mutations', async () => {
    const gw = await suite.start({ subgraphs: { products: { dedupe: false } } });
    suite.demo.proxies.products.mode = { kind: 'slow', ms: 300 };
    suite.demo.proxies.orders.mode = { kind: 'slow', ms: 300 };
    await Promise.all(Array.from({ length: 3 }, () => postAsOperator(gw.graphqlUrl, { query: PRODUCT })));
    expect(suite.demo.proxies.products.hits).toBe(3);
    const created = await Promise.all(Array.from({ length: 3 }, () => postAsOperator(gw.graphqlUrl, { query: CREATE_ORDER })));
    expect(suite.demo.proxies.orders.hits).toBe(3);
    expect(new Set(created.map((c) => (c.body.data?.createOrder as { id: string }).id)).size).toBe(3);
  });
});
