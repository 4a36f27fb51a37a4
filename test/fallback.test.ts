import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEV_ISSUER } from '../gateway/src/auth/dev-secret.js';
import type { GatewayConfigInput } from '../gateway/src/config/index.js';
import { devBearer } from './helpers/auth.js';
import { waitForRedis } from './helpers/cost-stack.js';
import { postGraphql, type TestGateway } from './helpers/gateway.js';
import { connectTestRedis, TEST_REDIS_URL, type TestRedis } from './helpers/redis.js';
import { eventually, metricValue, postAsOperator, PRODUCTS_STATIC, startGatewayOn, useFaultyDemo } from './helpers/resilience.js';

/** users → orders → products in one query. */
const CROSS = /* GraphQL */ `
  query UserOrders($id: ID!) {
    user(id: $id) {
      id
      name
      orders(first: 2) {
        edges {
          node {
            id
            total
            items {
              quantity
              product {
                upc
                name
                price
              }
            }
          }
        }
      }
    }
  }
`;

const suite = useFaultyDemo();

// Breakers are kept out of the way here (test/breaker.test.ts covers them): every call reaches the proxy.
const NO_BREAKER = { breaker: { enabled: false }, retry: { maxRetries: 0 } };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Changes a product's price through the gateway, as a caller allowed to. */
async function setProductPrice(gw: TestGateway, upc: string, price: number, asWriter: Record<string, string>): Promise<void> {
  const mutation = `mutation { updateProductPrice(upc: "${upc}", price: ${price}) { price } }`;
  expect((await postGraphql(gw.graphqlUrl, { query: mutation }, asWriter)).body.errors).toBeUndefined();
}

/** A gateway on this test's Redis prefix; `readinessDetail` lets waitForRedis read /ready's Redis status. */
function onRedis(redis: TestRedis, resilience: GatewayConfigInput['resilience']): GatewayConfigInput {
  return { redis: { url: TEST_REDIS_URL, keyPrefix: redis.prefix }, server: { readinessDetail: true }, resilience };
}

/** The products subgraph's fallback copies in this test's Redis (the prefix also holds budgets). */
async function productCopies(redis: TestRedis): Promise<string[]> {
  return (await redis.keys()).filter((key) => key.startsWith(`${redis.prefix}fallback:products:`));
}

function products(body: { data?: Record<string, unknown> | null }): unknown[] {
  const user = body.data?.user as { orders: { edges: { node: { items: { product: unknown }[] } }[] } };
  return user.orders.edges.flatMap((e) => e.node.items.map((i) => i.product));
}

describe('fallbacks when the products subgraph is killed', () => {
  it('serves products from the cache when warm, and says so in extensions, header and metrics', async () => {
    const gw = await suite.start({ resilience: { subgraphDefaults: NO_BREAKER } });
    const warm = await postAsOperator(gw.graphqlUrl, { query: CROSS, variables: { id: 'user-7' } });
    expect(warm.body.errors).toBeUndefined();
    expect(warm.headers.get('x-fallback-source')).toBeNull();
    expect(warm.body.extensions).toBeUndefined();

    await suite.demo.proxies.products.kill();
    const cold = await postAsOperator(gw.graphqlUrl, { query: CROSS, variables: { id: 'user-7' } });
    expect(cold.status).toBe(200);
    expect(cold.body.errors).toBeUndefined();
    // Users and orders are live, products are the copies kept from the first answer.
    expect(cold.body.data).toEqual(warm.body.data);
    expect(cold.headers.get('x-fallback-source')).toBe('cache');
    const fallbacks = (cold.body.extensions as { fallbacks: { subgraph: string; source: string; age: number }[] }).fallbacks;
    expect(fallbacks).toHaveLength(1);
    expect(fallbacks[0]).toMatchObject({ subgraph: 'products', source: 'cache' });
    expect(fallbacks[0]?.age).toBeGreaterThanOrEqual(0);
    expect(await metricValue(gw, 'gateway_fallback_requests_total', { subgraph: 'products', source: 'cache' })).toBeGreaterThanOrEqual(1);
    expect(
      await metricValue(gw, 'gateway_subgraph_requests_total', { subgraph: 'products', result: 'network_error' }),
    ).toBeGreaterThanOrEqual(1);
    expect(gw.logs.find((l) => l.msg === 'subgraph call failed; serving a fallback' && l.fallback === 'cache').length).toBeGreaterThan(0);
  });

  it('serves the static fallback when the cache is cold and a static file is configured', async () => {
    const gw = await suite.start({
      resilience: { subgraphDefaults: NO_BREAKER },
      subgraphs: { products: { fallback: { static: PRODUCTS_STATIC } } },
    });
    await suite.demo.proxies.products.kill();
    const result = await postAsOperator(gw.graphqlUrl, { query: CROSS, variables: { id: 'user-7' } });
    expect(result.status).toBe(200);
    expect(result.body.errors).toBeUndefined();
    const user = result.body.data?.user as { id: string; orders: { edges: unknown[] } };
    expect(user.id).toBe('user-7');
    expect(user.orders.edges.length).toBeGreaterThan(0);
    // The key field comes from the request's representation; the rest from the static file.
    for (const product of products(result.body)) {
      expect(product).toEqual({ upc: expect.stringMatching(/^upc-/), name: 'Product details temporarily unavailable', price: 0 });
    }
    expect(result.headers.get('x-fallback-source')).toBe('static');
    expect(result.body.extensions).toEqual({ fallbacks: [{ subgraph: 'products', source: 'static', age: null, reason: 'error' }] });

    const top = await postAsOperator(gw.graphqlUrl, { query: '{ topProducts(first: 3) { upc name } }' });
    expect(top.body).toEqual({
      data: { topProducts: [] },
      extensions: { fallbacks: [{ subgraph: 'products', source: 'static', age: null, reason: 'error' }] },
    });
    expect(await metricValue(gw, 'gateway_fallback_requests_total', { subgraph: 'products', source: 'static' })).toBe(2);
  });

  it('answers null and SUBGRAPH_UNAVAILABLE for products, with users and orders, when no fallback exists', async () => {
    const gw = await suite.start({ resilience: { subgraphDefaults: NO_BREAKER } });
    await suite.demo.proxies.products.kill();
    const result = await postAsOperator(gw.graphqlUrl, { query: CROSS, variables: { id: 'user-7' } });
    expect(result.status).toBe(200);
    expect((result.body.data?.user as { id: string }).id).toBe('user-7');
    for (const product of products(result.body)) expect(product).toBeNull();
    expect(new Set(result.body.errors?.map((e) => e.extensions?.code))).toEqual(new Set(['SUBGRAPH_UNAVAILABLE']));
    expect(result.body.errors?.[0]?.extensions?.subgraph).toBe('products');
    expect(JSON.stringify(result.body.errors)).not.toContain('127.0.0.1');
    expect(result.headers.get('x-fallback-source')).toBeNull();
    expect(result.body.extensions).toBeUndefined();
  });
});

describe('cache keys carry the identity the subgraph request carries', () => {
  // Each user signs in with a token; auth's principal headers (x-user-id, ...) are what the keys carry.
  const asUser = (id: string) => devBearer(id);
  const ME = '{ me { id name } }';

  it("never serves one user's cached data to another", async () => {
    const gw = await suite.start({ resilience: { subgraphDefaults: NO_BREAKER } });
    const alice = await postGraphql(gw.graphqlUrl, { query: ME }, await asUser('user-1'));
    expect((alice.body.data?.me as { id: string }).id).toBe('user-1');
    // The users subgraph really received the identity the key is built from.
    expect(suite.demo.proxies.users.requests.map((r) => r.headers['x-user-id'])).toContain('user-1');

    await suite.demo.proxies.users.kill();
    const bob = await postGraphql(gw.graphqlUrl, { query: ME }, await asUser('user-2'));
    expect(bob.body.data).toEqual({ me: null });
    expect(bob.body.errors?.[0]?.extensions?.code).toBe('SUBGRAPH_UNAVAILABLE');
    expect(bob.headers.get('x-fallback-source')).toBeNull();

    const aliceAgain = await postGraphql(gw.graphqlUrl, { query: ME }, await asUser('user-1'));
    expect(aliceAgain.body.data).toEqual(alice.body.data);
    expect(aliceAgain.headers.get('x-fallback-source')).toBe('cache');
  });

  it('keeps identities apart when auth sends the principal under renamed headers', async () => {
    const gw = await suite.start({
      resilience: { subgraphDefaults: NO_BREAKER },
      auth: { jwt: { issuers: [DEV_ISSUER] }, propagation: { idHeader: 'x-principal-id', scopesHeader: 'x-principal-scopes' } },
    });
    const alice = await postGraphql(gw.graphqlUrl, { query: ME }, await asUser('user-1'));
    expect(alice.body.errors, JSON.stringify(alice.body)).toBeUndefined();
    expect(suite.demo.proxies.users.requests.at(-1)?.headers['x-principal-id']).toBe('user-1');
    await suite.demo.proxies.users.kill();
    const bob = await postGraphql(gw.graphqlUrl, { query: ME }, await asUser('user-2'));
    expect(bob.headers.get('x-fallback-source')).toBeNull();
    expect(bob.body.errors?.[0]?.extensions?.code).toBe('SUBGRAPH_UNAVAILABLE');
    const aliceAgain = await postGraphql(gw.graphqlUrl, { query: ME }, await asUser('user-1'));
    expect(aliceAgain.headers.get('x-fallback-source')).toBe('cache');
  });

  it('shares cached copies across identities for a subgraph declared public', async () => {
    const gw = await suite.start({ resilience: { subgraphDefaults: NO_BREAKER }, subgraphs: { products: { public: true } } });
    const query = '{ product(upc: "upc-0001") { upc name price } }';
    const alice = await postGraphql(gw.graphqlUrl, { query }, await asUser('user-1'));
    expect(alice.body.errors).toBeUndefined();
    await suite.demo.proxies.products.kill();
    const bob = await postGraphql(gw.graphqlUrl, { query }, await asUser('user-2'));
    expect(bob.body.data).toEqual(alice.body.data);
    expect(bob.headers.get('x-fallback-source')).toBe('cache');
  });

  it('shares cached copies across identities for root fields declared public, and only those', async () => {
    const gw = await suite.start({
      resilience: { subgraphDefaults: NO_BREAKER },
      subgraphs: { products: { publicRootFields: ['topProducts'] } },
    });
    const top = '{ topProducts(first: 2) { upc name } }';
    const one = '{ product(upc: "upc-0001") { upc name } }';
    await postGraphql(gw.graphqlUrl, { query: top }, await asUser('user-1'));
    await postGraphql(gw.graphqlUrl, { query: one }, await asUser('user-1'));
    await suite.demo.proxies.products.kill();
    const bobTop = await postGraphql(gw.graphqlUrl, { query: top }, await asUser('user-2'));
    expect(bobTop.headers.get('x-fallback-source')).toBe('cache');
    const bobOne = await postGraphql(gw.graphqlUrl, { query: one }, await asUser('user-2'));
    expect(bobOne.headers.get('x-fallback-source')).toBeNull();
    expect(bobOne.body.data).toEqual({ product: null });
  });
});

describe('mutations', () => {
  it('are never served from a fallback, even when a cached or static answer exists', async () => {
    const gw = await suite.start({
      resilience: { subgraphDefaults: NO_BREAKER },
      subgraphs: { products: { fallback: { static: PRODUCTS_STATIC } } },
    });
    const mutation = 'mutation { createOrder(input: { items: [{ upc: "upc-0001", quantity: 1 }] }) { id items { product { upc name } } } }';
    const first = await postAsOperator(gw.graphqlUrl, { query: mutation });
    expect(first.body.errors).toBeUndefined();
    // Products fetched after a mutation are not served from fallbacks either (they would show stale state).
    await suite.demo.proxies.products.kill();
    const second = await postAsOperator(gw.graphqlUrl, { query: mutation });
    expect(second.headers.get('x-fallback-source')).toBeNull();
    expect(second.body.errors?.[0]?.extensions?.code).toBe('SUBGRAPH_UNAVAILABLE');
    await suite.demo.proxies.orders.kill();
    const third = await postAsOperator(gw.graphqlUrl, { query: mutation });
    expect(third.headers.get('x-fallback-source')).toBeNull();
    expect(third.body.data).toBeNull();
    expect(third.body.errors?.[0]?.extensions).toMatchObject({ code: 'SUBGRAPH_UNAVAILABLE', subgraph: 'orders' });
    expect(await metricValue(gw, 'gateway_fallback_requests_total', { subgraph: 'orders', source: 'cache' })).toBe(0);
    expect(await metricValue(gw, 'gateway_fallback_requests_total', { subgraph: 'products', source: 'static' })).toBe(0);
  });
});

describe('with Redis configured', () => {
  it('keeps the fallback copies in Redis, hashed (no header value in any key), and serves them', async () => {
    const redis = await connectTestRedis('fallback');
    let gw: TestGateway | undefined;
    try {
      // Every first answer written (no held answers), as the copies in Redis are the subject here.
      gw = await suite.start(onRedis(redis, { subgraphDefaults: NO_BREAKER, heldAnswersMaxBytes: 0 }));
      // The gateway connects to Redis in the background; copies offered before that are dropped.
      await waitForRedis(gw);
      const query = '{ product(upc: "upc-0002") { upc name price } }';
      // The identity in the key is the principal's (x-user-id and the other principal headers), hashed.
      const asSecretUser = await devBearer('user-secret-id-42', ['read:email']);
      const live = await postGraphql(gw.graphqlUrl, { query }, asSecretUser);
      expect(live.body.errors).toBeUndefined();
      let keys: string[] = [];
      // Only the fallback copies: the same prefix also holds the caller's rate-limit budget.
      const fallbackKeys = async () => (await redis.keys()).filter((key) => key.startsWith(`${redis.prefix}fallback:`));
      for (let i = 0; i < 40 && keys.length === 0; i++) {
        keys = await fallbackKeys();
        if (keys.length === 0) await new Promise((resolve) => setTimeout(resolve, 25));
      }
      expect(keys).toHaveLength(1);
      expect(keys[0]).toMatch(new RegExp(`^${redis.prefix}fallback:products:[\\w-]{43}$`));
      expect(keys.join()).not.toContain('user-secret-id-42');
      const key = keys[0]!.slice(redis.prefix.length);
      const ttl = await redis.client.pttl(key);
      expect(ttl).toBeGreaterThan(0);
      // A copy younger than fallback.refreshAfterMs (default 1 s) is not rewritten by the next answers.
      const stored = await redis.client.get(key);
      for (let i = 0; i < 5; i++) expect((await postGraphql(gw.graphqlUrl, { query }, asSecretUser)).body.errors).toBeUndefined();
      expect(await redis.client.get(key)).toBe(stored);

      await suite.demo.proxies.products.kill();
      const fromRedis = await postGraphql(gw.graphqlUrl, { query }, asSecretUser);
      expect(fromRedis.body.data).toEqual(live.body.data);
      expect(fromRedis.headers.get('x-fallback-source')).toBe('cache');
    } finally {
      await gw?.close(); // before the keys are deleted, so that nothing writes after
      await redis.close();
    }
  });
});

describe('fallback copies at shutdown', () => {
  it('are written when the gateway closes right after the answer', async () => {
    const redis = await connectTestRedis('fallback-close');
    let gw: TestGateway | undefined;
    try {
      gw = await suite.start(onRedis(redis, { heldAnswersMaxBytes: 0 }));
      await waitForRedis(gw);
      expect((await postAsOperator(gw.graphqlUrl, { query: '{ product(upc: "upc-0005") { upc name } }' })).body.errors).toBeUndefined();
      await gw.close();
      gw = undefined;
      expect(await productCopies(redis)).toHaveLength(1);
    } finally {
      await gw?.close();
      await redis.close();
    }
  });
});

describe('which answers are written to the fallback cache', () => {
  it('an unchanged answer only when its copy is gone or half its TTL old, a changed one at once; a copy ages from the last identical answer', async () => {
    const redis = await connectTestRedis('fallback-rewrite');
    const upc = 'upc-0007';
    const query = `{ product(upc: "${upc}") { upc name price } }`;
    const asWriter = await devBearer('user-3', ['products:write']);
    const setPrice = (price: number) => setProductPrice(gw!, upc, price, asWriter);
    let gw: TestGateway | undefined;
    let original: number | undefined;
    try {
      gw = await suite.start(
        onRedis(redis, {
          subgraphDefaults: { ...NO_BREAKER, fallback: { cacheTtlMs: 4_000, refreshAfterMs: 50 } },
          heldAnswersMaxBytes: 0,
        }),
      );
      await waitForRedis(gw);
      const ask = async () => {
        const result = await postAsOperator(gw!.graphqlUrl, { query });
        expect(result.body.errors).toBeUndefined();
        return result;
      };
      original = ((await ask()).body.data?.['product'] as { price: number }).price;
      let key = '';
      expect(
        await eventually(async () => {
          const keys = await productCopies(redis);
          key = keys[0]?.slice(redis.prefix.length) ?? '';
          return keys.length === 1;
        }),
      ).toBe(true);
      const stored = async () => (await redis.client.get(key)) ?? '';
      const storedAt = async () => Number((await stored()).split('\n')[0]);
      const first = await stored();
      // The second answer is written too: a call's first answer is not fingerprinted (most calls are answered once).
      await sleep(150);
      await ask();
      expect(await eventually(async () => (await stored()) !== first, 2_000)).toBe(true);
      const written = await stored();

      // Past refreshAfterMs, the same answer: the copy holds it already and is not written again.
      await sleep(150);
      await ask();
      await sleep(100);
      expect(await stored()).toBe(written);

      // Gone from the store (purged, say by another instance, or evicted): the next unchanged answer writes it again.
      await redis.client.del(key);
      await ask();
      expect(await eventually(async () => (await stored()) !== '', 2_000)).toBe(true);

      // A changed answer is written at once.
      await setPrice(original + 1);
      await ask();
      expect(await eventually(async () => (await stored()).includes(`"price":${original! + 1}`), 2_000)).toBe(true);
      const changedAt = await storedAt();

      // 1.5 s later, the same answer again: not written, but remembered; served now, the copy's
      // age counts from that answer (0 s), not from its write (1 s or more).
      await sleep(1_500);
      await ask();
      await sleep(100);
      expect(await storedAt()).toBe(changedAt);
      await suite.demo.proxies.products.kill();
      const fromCopy = await postAsOperator(gw.graphqlUrl, { query });
      expect(fromCopy.headers.get('x-fallback-source')).toBe('cache');
      expect((fromCopy.body.data?.['product'] as { price: number }).price).toBe(original + 1);
      expect((fromCopy.body.extensions as { fallbacks: { age: number }[] }).fallbacks[0]?.age).toBe(0);
      await suite.demo.proxies.products.revive();

      // Half the TTL (2 s) after its write, the unchanged answer is written again: the copy's expiry moves out.
      await sleep(Math.max(0, changedAt + 2_100 - Date.now()));
      await ask();
      expect(await eventually(async () => (await storedAt()) > changedAt, 2_000)).toBe(true);
      expect(await stored()).toContain(`"price":${original + 1}`);
      expect(await redis.client.pttl(key)).toBeGreaterThan(3_000);
    } finally {
      await suite.demo.proxies.products.revive(); // if an expectation failed while it was down
      if (gw && original !== undefined) await setPrice(original);
      await gw?.close();
      await redis.close();
    }
  });
});

describe("a call's first answer, with Redis", () => {
  it('is held in memory, not written, and serves the fallback; the next answer is written to Redis', async () => {
    const redis = await connectTestRedis('fallback-held');
    const query = '{ product(upc: "upc-0011") { upc name price } }';
    let gw: TestGateway | undefined;
    try {
      gw = await suite.start(onRedis(redis, { subgraphDefaults: { ...NO_BREAKER, fallback: { refreshAfterMs: 50 } } }));
      await waitForRedis(gw);
      const copies = () => productCopies(redis);
      const live = await postAsOperator(gw.graphqlUrl, { query });
      expect(live.body.errors).toBeUndefined();
      // Past the batch window (10 ms) and then some: nothing was written.
      await sleep(100);
      expect(await copies()).toEqual([]);
      const heldBytes = await metricValue(gw, 'gateway_fallback_held_bytes', {});
      expect(heldBytes).toBeGreaterThan(JSON.stringify(live.body.data).length);

      await suite.demo.proxies.products.kill();
      const fromHeld = await postAsOperator(gw.graphqlUrl, { query });
      expect(fromHeld.body.data).toEqual(live.body.data);
      expect(fromHeld.headers.get('x-fallback-source')).toBe('cache');
      expect((fromHeld.body.extensions as { fallbacks: { source: string; age: number }[] }).fallbacks[0]).toMatchObject({
        source: 'cache',
        age: 0,
      });
      await suite.demo.proxies.products.revive();

      // The call answered again, past refreshAfterMs: now its copy goes to Redis, where every instance finds it.
      await sleep(60);
      expect((await postAsOperator(gw.graphqlUrl, { query })).body.errors).toBeUndefined();
      expect(await eventually(async () => (await copies()).length === 1, 2_000)).toBe(true);
      expect(await redis.client.get((await copies())[0]!.slice(redis.prefix.length))).toContain('"upc":"upc-0011"');
      // Written, the held answer is dropped.
      expect(await eventually(async () => (await metricValue(gw!, 'gateway_fallback_held_bytes', {})) === 0, 2_000)).toBe(true);
    } finally {
      await suite.demo.proxies.products.revive();
      await gw?.close();
      await redis.close();
    }
  });
});

describe('a held first answer against the copies of other instances and callers', () => {
  it('gives way to a newer copy another instance wrote, and is never served to another caller', async () => {
    const redis = await connectTestRedis('fallback-held-newer');
    const upc = 'upc-0013';
    const query = `{ product(upc: "${upc}") { upc name price } }`;
    const asWriter = await devBearer('user-3', ['products:write']);
    const config = onRedis(redis, { subgraphDefaults: { ...NO_BREAKER, fallback: { refreshAfterMs: 50 } } });
    let a: TestGateway | undefined;
    let b: TestGateway | undefined;
    let original: number | undefined;
    const setPrice = (price: number) => setProductPrice(a!, upc, price, asWriter);
    const price = (body: { data?: Record<string, unknown> | null }) => (body.data?.['product'] as { price: number } | null)?.price;
    try {
      a = await suite.start(config);
      b = await startGatewayOn(suite.demo, config);
      await Promise.all([waitForRedis(a), waitForRedis(b)]);
      // Instance A holds the first answer; then the price changes and B, answered twice, writes the new one to Redis.
      original = price((await postAsOperator(a.graphqlUrl, { query })).body);
      expect(original).toBeTypeOf('number');
      await setPrice(original! + 1);
      expect(price((await postAsOperator(b.graphqlUrl, { query })).body)).toBe(original! + 1);
      await sleep(60);
      expect(price((await postAsOperator(b.graphqlUrl, { query })).body)).toBe(original! + 1);
      const copies = () => productCopies(redis);
      expect(await eventually(async () => (await copies()).length === 1, 2_000)).toBe(true);

      await suite.demo.proxies.products.kill();
      // A serves the newer copy from Redis, not the answer it holds.
      const fromA = await postAsOperator(a.graphqlUrl, { query });
      expect(fromA.headers.get('x-fallback-source')).toBe('cache');
      expect(price(fromA.body)).toBe(original! + 1);
      // Another caller has no copy of its own: neither A's held answer nor the operator's copy is served to it.
      const other = await postGraphql(a.graphqlUrl, { query }, await devBearer('user-4'));
      expect(other.headers.get('x-fallback-source')).toBeNull();
      expect(other.body.errors?.[0]?.extensions?.code).toBe('SUBGRAPH_UNAVAILABLE');
    } finally {
      await suite.demo.proxies.products.revive();
      if (original !== undefined) await setPrice(original);
      await b?.close();
      await a?.close();
      await redis.close();
    }
  });
});

describe("the example of docs/resilience.md ('When a subgraph fails')", () => {
  it('gives exactly the answer the page shows', async () => {
    const section = readFileSync(new URL('../docs/resilience.md', import.meta.url), 'utf8');
    const [warmUp, query] = [...section.matchAll(/-d '(.+)'/g)].map((m) => JSON.parse(m[1] as string) as { query: string });
    const shown = /```json\n([\s\S]+?)\n```/.exec(section)?.[1];
    const header = /x-fallback-source: (.+)/.exec(section)?.[1];
    expect(warmUp && query && shown && header).toBeTruthy();

    const gw = await suite.start({ subgraphs: { products: { fallback: { static: PRODUCTS_STATIC } } } });
    expect((await postAsOperator(gw.graphqlUrl, warmUp!)).body.errors).toBeUndefined();
    await suite.demo.proxies.products.kill();
    const result = await postAsOperator(gw.graphqlUrl, query!);
    // Ages are seconds since the copy was stored: 0 in the page's run, maybe 1 on a slow machine.
    const ageless = (body: unknown) =>
      JSON.parse(JSON.stringify(body), (key, value: unknown) => (key === 'age' && typeof value === 'number' ? 'N' : value)) as unknown;
    expect(ageless(result.body)).toEqual(ageless(JSON.parse(shown!)));
    expect(result.headers.get('x-fallback-source')).toBe(header);
  });
});
