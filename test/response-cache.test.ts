import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEV_ISSUER } from '../gateway/src/auth/dev-secret.js';
import type { GatewayConfigInput } from '../gateway/src/config/index.js';
import { hashOf } from '../gateway/src/subgraph/cache-keys.js';
import { runCacheCommand } from '../scripts/cache.js';
import { devBearer } from './helpers/auth.js';
import { startCountingProxy, type CountingProxy } from './helpers/counting-proxy.js';
import { postGraphql, startTestGateway, type TestGateway } from './helpers/gateway.js';
import { connectTestRedis, TEST_REDIS_URL, type TestRedis } from './helpers/redis.js';
import { eventually, metricValue } from './helpers/resilience.js';
import { DEMO_SUPERGRAPH, startDemoSubgraphs, type DemoSubgraphs } from './helpers/subgraphs.js';

/** users → orders → products: the products part is an `_entities` fetch. */
const ORDERS = (first: number, userFields = 'id') => /* GraphQL */ `
  query Orders($id: ID!) {
    user(id: $id) {
      ${userFields}
      orders(first: ${first}) { edges { node { id items { product { upc name price } } } } }
    }
  }
`;
const PRODUCT = '{ product(upc: "upc-0003") { upc name price } }';

let subgraphs: DemoSubgraphs;
let products: CountingProxy;
let redis: TestRedis;
const gateways: TestGateway[] = [];

beforeAll(async () => {
  subgraphs = await startDemoSubgraphs();
  products = await startCountingProxy(subgraphs.urls.products);
  redis = await connectTestRedis('response-cache');
});
afterAll(async () => {
  await Promise.all(gateways.map((gw) => gw.close()));
  await products?.close();
  await subgraphs?.close();
  await redis?.close();
});

async function startGateway(
  responseCache: GatewayConfigInput['responseCache'],
  keyPrefix = redis.prefix,
  headers?: GatewayConfigInput['headers'],
): Promise<TestGateway> {
  const gw = await startTestGateway({
    ...(headers ? { headers } : {}),
    supergraph: { path: DEMO_SUPERGRAPH, watch: false },
    auth: { jwt: { issuers: [DEV_ISSUER] } },
    redis: { url: TEST_REDIS_URL, keyPrefix },
    subgraphs: {
      users: { url: subgraphs.urls.users },
      orders: { url: subgraphs.urls.orders },
      products: { url: products.url },
    },
    resilience: { subgraphDefaults: { breaker: { enabled: false }, retry: { maxRetries: 0 } } },
    responseCache: { enabled: true, ...responseCache },
    // /ready's Redis status.
    server: { readinessDetail: true },
  });
  gateways.push(gw);
  const ready = async () => ((await (await fetch(`${gw.url}/ready`)).json()) as { redis: { status: string } }).redis.status === 'ready';
  expect(await eventually(ready, 5_000)).toBe(true);
  return gw;
}

const asUser = async (sub: string, scopes: string[] = ['orders:read:all']) => devBearer(sub, scopes);

/** Each test reads products no other test reads, or starts its own gateway on its own key prefix. */
describe('response cache', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway({});
  });

  it('answers repeated public product reads within their TTL without calling products', async () => {
    const before = products.count;
    const calls = () => metricValue(gw, 'gateway_subgraph_requests_total', { subgraph: 'products', result: 'success' });
    const callsBefore = await calls();
    const first = await postGraphql(gw.graphqlUrl, { query: PRODUCT });
    expect(first.body.errors).toBeUndefined();
    expect(products.count).toBe(before + 1);
    expect(first.headers.get('cache-control')).toBe('max-age=60, public');
    for (let i = 0; i < 3; i++) {
      const again = await postGraphql(gw.graphqlUrl, { query: PRODUCT });
      expect(again.body.data).toEqual(first.body.data);
      expect(again.headers.get('cache-control')).toMatch(/^max-age=(59|60), public$/);
    }
    expect(products.count).toBe(before + 1);
    expect(await metricValue(gw, 'gateway_response_cache_hits_total', { subgraph: 'products', kind: 'query' })).toBeGreaterThanOrEqual(3);
    // A hit is not a subgraph call in the call metrics either.
    expect(await calls()).toBe(callsBefore + 1);
  });

  it('serves an entity cached by one query to another query, calling products only for the missing ones', async () => {
    const headers = await asUser('user-3');
    const first = await postGraphql(gw.graphqlUrl, { query: ORDERS(1), variables: { id: 'user-5' } }, headers);
    expect(first.body.errors).toBeUndefined();
    const afterFirst = products.count;
    const hits = () => metricValue(gw, 'gateway_response_cache_hits_total', { subgraph: 'products', kind: 'entity' });
    const misses = () => metricValue(gw, 'gateway_response_cache_misses_total', { subgraph: 'products', kind: 'entity' });
    const [hitsBefore, missesBefore] = [await hits(), await misses()];
    // Another query (other user fields), the same products: no call.
    const other = await postGraphql(gw.graphqlUrl, { query: ORDERS(1, 'id name'), variables: { id: 'user-5' } }, headers);
    expect(other.body.errors).toBeUndefined();
    expect(products.count).toBe(afterFirst);
    expect(await hits()).toBeGreaterThan(hitsBefore);
    expect(await misses()).toBe(missesBefore);
    // More orders: the products already seen are hits, only the new ones are fetched (one call).
    const more = await postGraphql(gw.graphqlUrl, { query: ORDERS(3, 'id name'), variables: { id: 'user-5' } }, headers);
    expect(more.body.errors).toBeUndefined();
    expect(products.count).toBeLessThanOrEqual(afterFirst + 1);
    const firstProducts = JSON.stringify((first.body.data?.['user'] as { orders: unknown }).orders);
    const moreOrders = (more.body.data?.['user'] as { orders: { edges: unknown[] } }).orders.edges;
    expect(JSON.stringify(moreOrders[0])).toBe(JSON.stringify(JSON.parse(firstProducts).edges[0]));
  });

  it('purges the copies of a product a mutation returns: the next read is live', async () => {
    const query = '{ product(upc: "upc-0004") { upc name price } }';
    await postGraphql(gw.graphqlUrl, { query });
    await postGraphql(gw.graphqlUrl, { query });
    const before = products.count;
    const keysOf = async () => (await redis.keys()).filter((key) => key.includes('rc:'));
    const mutation = 'mutation { updateProductPrice(upc: "upc-0004", price: 12.5) { upc price } }';
    const changed = await postGraphql(gw.graphqlUrl, { query: mutation }, await asUser('user-3', ['products:write']));
    expect(changed.body.errors).toBeUndefined();
    expect(changed.headers.get('cache-control')).toBe('no-store');
    expect(products.count).toBe(before + 1);
    const read = await postGraphql(gw.graphqlUrl, { query });
    expect((read.body.data?.['product'] as { price: number }).price).toBe(12.5);
    expect(products.count).toBe(before + 2);
    expect(await metricValue(gw, 'gateway_response_cache_purges_total', { subgraph: 'products', reason: 'mutation' })).toBeGreaterThan(0);
    expect((await keysOf()).length).toBeGreaterThan(0);
  });

  it('gives the client the most restrictive Cache-Control of what was used', async () => {
    const both = await postGraphql(gw.graphqlUrl, { query: '{ topProducts(first: 2) { upc } product(upc: "upc-0005") { name } }' });
    expect(both.headers.get('cache-control')).toBe('max-age=30, public');
    const withUsers = await postGraphql(
      gw.graphqlUrl,
      { query: '{ topProducts(first: 2) { upc } user(id: "user-5") { id } }' },
      await asUser('user-3'),
    );
    expect(withUsers.body.errors).toBeUndefined();
    expect(withUsers.headers.get('cache-control')).toBe('no-store');
  });
});

describe('response cache: scope, stale-while-revalidate and the purge command', () => {
  it('never serves a private answer to another principal', async () => {
    const own = await connectTestRedis('response-cache-private');
    try {
      const gw = await startGateway({ overrides: { Product: { scope: 'PRIVATE' } } }, own.prefix);
      const query = '{ product(upc: "upc-0006") { upc name } }';
      const alice = await asUser('user-1', []);
      const bob = await asUser('user-2', []);
      const before = products.count;
      const first = await postGraphql(gw.graphqlUrl, { query }, alice);
      expect(first.headers.get('cache-control')).toBe('max-age=60, private');
      await postGraphql(gw.graphqlUrl, { query }, alice);
      expect(products.count).toBe(before + 1);
      await postGraphql(gw.graphqlUrl, { query }, bob);
      expect(products.count).toBe(before + 2);
      await postGraphql(gw.graphqlUrl, { query }, bob);
      expect(products.count).toBe(before + 2);
      // Anonymous callers share one identity (as with the fallback copies), never a user's.
      await postGraphql(gw.graphqlUrl, { query });
      expect(products.count).toBe(before + 3);
      // Closed first: a budget refund it still holds is written to Redis as it closes.
      await gw.close();
    } finally {
      await own.close();
    }
  });

  it('keeps public copies apart for each value of a header the rules forward', async () => {
    const own = await connectTestRedis('response-cache-forwarded');
    try {
      const gw = await startGateway({}, own.prefix, { subgraphs: { products: { request: [{ propagate: { named: 'x-tenant' } }] } } });
      const query = '{ product(upc: "upc-0008") { upc name } }';
      const user = await asUser('user-4');
      const before = products.count;
      const asTenant = (tenant: string, body: { query: string; variables?: Record<string, unknown> }) =>
        postGraphql(gw.graphqlUrl, body, { ...user, 'x-tenant': tenant });
      expect((await asTenant('a', { query })).headers.get('cache-control')).toBe('max-age=60, public');
      await asTenant('a', { query });
      expect(products.count).toBe(before + 1);
      // Another tenant's copy is its own: the subgraph may answer it differently.
      await asTenant('b', { query });
      expect(products.count).toBe(before + 2);
      await asTenant('b', { query });
      await asTenant('a', { query });
      expect(products.count).toBe(before + 2);
      // Entities too: the products `_entities` fetch of one user's orders, per tenant.
      const orders = { query: ORDERS(2), variables: { id: 'user-6' } };
      expect((await asTenant('a', orders)).body.errors).toBeUndefined();
      await asTenant('a', orders);
      expect(products.count).toBe(before + 3);
      expect((await asTenant('b', orders)).body.errors).toBeUndefined();
      expect(products.count).toBe(before + 4);
      await asTenant('b', orders);
      expect(products.count).toBe(before + 4);
      // Closed first: a budget refund it still holds is written to Redis as it closes.
      await gw.close();
    } finally {
      await own.close();
    }
  });

  it('answers a stale copy at once within its SWR window and refreshes it in the background', async () => {
    const own = await connectTestRedis('response-cache-swr');
    try {
      const gw = await startGateway({ overrides: { 'Query.product': { maxAge: 1, staleWhileRevalidate: 30 } } }, own.prefix);
      const query = '{ product(upc: "upc-0007") { upc name } }';
      const before = products.count;
      await postGraphql(gw.graphqlUrl, { query });
      expect(products.count).toBe(before + 1);
      await sleep(1_100);
      const stale = await postGraphql(gw.graphqlUrl, { query });
      expect(stale.body.errors).toBeUndefined();
      expect(stale.headers.get('cache-control')).toBe('no-store');
      expect(await metricValue(gw, 'gateway_response_cache_stale_total', { subgraph: 'products', kind: 'query' })).toBe(1);
      // The refresh reaches products in the background, and the next read is a fresh hit.
      expect(await eventually(() => products.count === before + 2, 3_000)).toBe(true);
      const hits = () => metricValue(gw, 'gateway_response_cache_hits_total', { subgraph: 'products', kind: 'query' });
      const hitsBefore = await hits();
      await postGraphql(gw.graphqlUrl, { query });
      expect(await hits()).toBe(hitsBefore + 1);
      expect(products.count).toBe(before + 2);
      // Closed first: a budget refund it still holds is written to Redis as it closes.
      await gw.close();
    } finally {
      await own.close();
    }
  });

  it('purges exactly the named entity with `npm run cache -- purge`', async () => {
    const own = await connectTestRedis('response-cache-purge');
    try {
      const gw = await startGateway({}, own.prefix);
      const headers = await asUser('user-3');
      const answer = await postGraphql(gw.graphqlUrl, { query: ORDERS(2), variables: { id: 'user-6' } }, headers);
      const upcs = [...JSON.stringify(answer.body.data).matchAll(/"upc":"(upc-\d+)"/g)].map((m) => m[1]);
      const upc = upcs[0]!;
      expect(new Set(upcs).size).toBeGreaterThanOrEqual(2);
      const entityKeys = async () => (await own.keys()).filter((key) => key.includes('rc:e:'));
      expect(await eventually(async () => (await entityKeys()).length >= 2, 2_000)).toBe(true);
      const before = await entityKeys();
      const named = before.filter((key) => key.includes(`{Product:${hashOf(`upc=${upc}`)}}`));
      expect(named.length).toBeGreaterThan(0);
      const dir = mkdtempSync(join(tmpdir(), 'cache-purge-'));
      const file = join(dir, 'gateway.yaml');
      writeFileSync(file, `redis:\n  url: ${TEST_REDIS_URL}\n  keyPrefix: "${own.prefix}"\n`);
      const lines: string[] = [];
      // A type that is not a GraphQL name is refused: `*` would have matched every type's entities.
      await expect(runCacheCommand(['purge', '--type', '*', '--config', file], {}, (l) => lines.push(l))).rejects.toThrow(
        /GraphQL type name/,
      );
      expect((await entityKeys()).sort()).toEqual([...before].sort());
      const code = await runCacheCommand(['purge', '--type', 'Product', '--key', `upc=${upc}`, '--config', file], {}, (l) => lines.push(l));
      expect(code).toBe(0);
      // Exactly the named entity's copies are gone (and its tag); every other entity's stay.
      const after = await entityKeys();
      expect(after.sort()).toEqual(before.filter((key) => !named.includes(key)).sort());
      expect(after.length).toBeGreaterThan(0);
      expect(lines[0]).toBe(`purged ${named.length} response cache entr${named.length === 1 ? 'y' : 'ies'}`);
      expect((await own.keys()).filter((key) => key.includes(`tag:rc:t:{Product:${hashOf(`upc=${upc}`)}}`))).toEqual([]);
      // Closed first: a budget refund it still holds is written to Redis as it closes.
      await gw.close();
    } finally {
      await own.close();
    }
  });
});

describe("the client's Cache-Control with the resilience layer off (plain subgraph calls)", () => {
  it("still follows the subgraphs' Cache-Control", async () => {
    const gw = await startTestGateway({
      supergraph: { path: DEMO_SUPERGRAPH, watch: false },
      subgraphs: {
        users: { url: subgraphs.urls.users },
        orders: { url: subgraphs.urls.orders },
        products: { url: subgraphs.urls.products },
      },
      resilience: { enabled: false },
      responseCache: { enabled: false },
    });
    gateways.push(gw);
    const top = await postGraphql(gw.graphqlUrl, { query: '{ topProducts(first: 2) { upc } product(upc: "upc-0005") { name } }' });
    expect(top.body.errors).toBeUndefined();
    expect(top.headers.get('cache-control')).toBe('max-age=30, public');
    const withUsers = await postGraphql(gw.graphqlUrl, { query: '{ topProducts(first: 2) { upc } user(id: "user-5") { id } }' });
    expect(withUsers.headers.get('cache-control')).toBe('no-store');
  });
});
