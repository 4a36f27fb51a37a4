import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEV_ISSUER } from '../gateway/src/auth/dev-secret.js';
import { devBearer } from './helpers/auth.js';
import { TEST_REDIS_URL, deleteKeys, testKeyPrefix, waitForRedis } from './helpers/cost-stack.js';
import { startTestGateway, type TestGateway } from './helpers/gateway.js';
import { rawRequest, startRestUpstream, type RestUpstream } from './helpers/rest-upstream.js';
import { DEMO_SUPERGRAPH } from './helpers/subgraphs.js';

// One run on the in-memory fallback cache, one on Redis (its own key prefix, cleaned afterwards).
describe.each([
  { store: 'memory', prefix: undefined },
  { store: 'redis', prefix: testKeyPrefix('rest-fallback') },
])('REST GET fallback on the $store cache', ({ store, prefix }) => {
  let upstream: RestUpstream;
  let gw: TestGateway;
  beforeAll(async () => {
    upstream = await startRestUpstream();
    gw = await startTestGateway({
      supergraph: { path: DEMO_SUPERGRAPH, watch: false },
      auth: { jwt: { issuers: [DEV_ISSUER] } },
      ...(prefix ? { redis: { url: TEST_REDIS_URL, keyPrefix: prefix } } : {}),
      // waitForRedis reads /ready's Redis status (server.readinessDetail).
      server: { readinessDetail: true },
      rest: {
        routes: [
          {
            prefix: '/private',
            upstream: upstream.origin,
            rewrite: '/api',
            auth: { mode: 'required' },
            retries: { maxRetries: 0 },
            fallback: { cache: true },
          },
          {
            prefix: '/public',
            upstream: upstream.origin,
            rewrite: '/api',
            methods: ['GET', 'POST'],
            auth: { mode: 'optional' },
            retries: { maxRetries: 0 },
            fallback: { cache: true, public: true },
          },
          { prefix: '/nofallback', upstream: upstream.origin, rewrite: '/api', auth: { mode: 'optional' }, retries: { maxRetries: 0 } },
          {
            prefix: '/restyled',
            upstream: upstream.origin,
            rewrite: '/api',
            auth: { mode: 'optional' },
            retries: { maxRetries: 0 },
            fallback: { cache: true, public: true },
            // The client never sees the upstream's Cache-Control; whether a copy is kept still follows it.
            transform: { response: { headers: { remove: ['cache-control'] } } },
          },
        ],
      },
    });
    if (prefix) await waitForRedis(gw);
  });
  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
    if (prefix) await deleteKeys(TEST_REDIS_URL, prefix);
  });

  it("serves the caller its own kept copy when the upstream is down, marked with X-Fallback-Source and Age; never another caller's", async () => {
    const alice = await devBearer(`alice-${store}`);
    const bob = await devBearer(`bob-${store}`);
    const fresh = await fetch(`${gw.url}/private/echo/item?id=1`, { headers: alice });
    expect(fresh.status).toBe(200);
    const body = await fresh.text();
    expect(fresh.headers.get('x-fallback-source')).toBeNull();
    // The copy is written when the body has been sent; give the store a moment.
    await new Promise((resolve) => setTimeout(resolve, 100));

    await upstream.kill();
    try {
      const stale = await fetch(`${gw.url}/private/echo/item?id=1`, { headers: { ...alice, 'x-request-id': `fb-${store}` } });
      expect(stale.status).toBe(200);
      expect(stale.headers.get('x-fallback-source')).toBe('cache');
      expect(Number(stale.headers.get('age'))).toBeGreaterThanOrEqual(0);
      expect(stale.headers.get('content-type')).toBe('application/json');
      expect(await stale.text()).toBe(body);
      expect(gw.logs.completed(`fb-${store}`)[0]).toMatchObject({ route: '/private', fallback: 'cache', status: 200 });

      // Bob never fetched it: no copy of Alice's answer is served to him.
      const other = await fetch(`${gw.url}/private/echo/item?id=1`, { headers: bob });
      expect(other.status).toBe(502);
      expect(await other.json()).toMatchObject({ error: 'UPSTREAM_BAD_RESPONSE' });
      // Another path: no copy either.
      expect((await fetch(`${gw.url}/private/echo/item?id=2`, { headers: alice })).status).toBe(502);
    } finally {
      await upstream.revive();
    }
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    expect(metrics).toMatch(/gateway_rest_fallback_total\{route="\/private"\} 1/);
  });

  it('a public route keeps one copy for every caller, and a 5xx from the upstream is answered from it too', async () => {
    const first = await fetch(`${gw.url}/public/echo/catalog`, { headers: await devBearer(`carol-${store}`) });
    expect(first.status).toBe(200);
    await first.text();
    await new Promise((resolve) => setTimeout(resolve, 100));
    upstream.failWith = 503;
    try {
      const anonymous = await fetch(`${gw.url}/public/echo/catalog`);
      expect(anonymous.status).toBe(200);
      expect(anonymous.headers.get('x-fallback-source')).toBe('cache');
      // Without a fallback, the upstream's own 503 is what the client gets.
      const plain = await fetch(`${gw.url}/nofallback/echo/catalog`);
      expect(plain.status).toBe(503);
      expect(await plain.text()).toBe('failing with 503');
    } finally {
      upstream.failWith = undefined;
    }
  });

  it('keeps no copy of a no-store, a compressed or (on a public route) a private answer', async () => {
    // node:http, which leaves a body as it came (fetch would try to gunzip the "gzip" one).
    const get = (query: string) => rawRequest(gw.url, `/public/answer-headers?${query}`);
    const cases = ['cache-control=no-store', 'content-encoding=gzip', 'cache-control=private%2C%20max-age%3D60', 'cache-control=public'];
    for (const query of cases) expect((await get(query)).status).toBe(200);
    expect((await rawRequest(gw.url, '/restyled/answer-headers?cache-control=no-store')).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 100));
    upstream.failWith = 503;
    try {
      const served = async (query: string) => (await get(query)).headers['x-fallback-source'];
      expect(await served(cases[0]!)).toBeUndefined();
      expect(await served(cases[1]!)).toBeUndefined();
      expect(await served(cases[2]!)).toBeUndefined();
      // A public answer is kept, as before.
      expect(await served(cases[3]!)).toBe('cache');
      expect((await rawRequest(gw.url, '/restyled/answer-headers?cache-control=no-store')).headers['x-fallback-source']).toBeUndefined();
    } finally {
      upstream.failWith = undefined;
    }
  });

  it('never answers a POST from the cache (a copy of the same path exists from the GET above)', async () => {
    await upstream.kill();
    try {
      const response = await fetch(`${gw.url}/public/echo/catalog`, { method: 'POST', body: 'x' });
      expect(response.status).toBe(502);
      expect(response.headers.get('x-fallback-source')).toBeNull();
      expect(await response.json()).toMatchObject({ error: 'UPSTREAM_BAD_RESPONSE' });
      // The GET is still answered from the copy.
      expect((await fetch(`${gw.url}/public/echo/catalog`)).headers.get('x-fallback-source')).toBe('cache');
    } finally {
      await upstream.revive();
    }
  });
});

describe('REST GET fallback copies in Redis: which answers are written', () => {
  const prefix = testKeyPrefix('rest-kept');
  const REFRESH_MS = 100;
  let upstream: RestUpstream;
  let gw: TestGateway;
  let redis: Redis;
  beforeAll(async () => {
    upstream = await startRestUpstream();
    redis = new Redis(TEST_REDIS_URL);
    gw = await startTestGateway({
      supergraph: { path: DEMO_SUPERGRAPH, watch: false },
      redis: { url: TEST_REDIS_URL, keyPrefix: prefix },
      server: { readinessDetail: true },
      rest: {
        routes: [
          {
            prefix: '/kept',
            upstream: upstream.origin,
            rewrite: '/api',
            auth: { mode: 'optional' },
            retries: { maxRetries: 0 },
            fallback: { cache: true, public: true, refreshAfterMs: REFRESH_MS },
          },
        ],
      },
    });
    await waitForRedis(gw);
  });
  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
    await deleteKeys(TEST_REDIS_URL, prefix);
    redis?.disconnect();
  });

  /** The copy's key in Redis and when it was written (the store's `<storedAt>\n<value>`), once there is one. */
  async function storedCopy(): Promise<{ key: string; storedAt: number } | undefined> {
    for (let attempt = 0; attempt < 40; attempt++) {
      const [key, ...others] = await redis.keys(`${prefix}*rest:/kept:*`);
      expect(others).toEqual([]);
      const raw = key ? await redis.get(key) : null;
      if (key && raw) return { key, storedAt: Number(raw.slice(0, raw.indexOf('\n'))) };
      await sleep(25);
    }
    return undefined;
  }

  /** A GET of the same copy; `version` changes the upstream's answer (it echoes the request's headers). */
  async function get(version: string): Promise<void> {
    const response = await fetch(`${gw.url}/kept/echo`, { headers: { 'x-request-id': 'kept-copy', 'x-version': version } });
    expect(response.status).toBe(200);
    await response.arrayBuffer();
    // Apart from the copies' first two answers, one answer per refresh interval is looked at.
    await sleep(REFRESH_MS + 20);
  }

  it('writes an unchanged answer once, a changed one at once, and a copy that is gone again', async () => {
    await get('1');
    await get('1');
    // The second answer looked at is fingerprinted and written; unchanged answers after it are not.
    const second = await storedCopy();
    expect(second).toBeDefined();
    await get('1');
    await get('1');
    expect(await storedCopy()).toEqual(second);
    expect(upstream.hits.filter((hit) => hit.url === '/api/echo').length).toBe(4);

    await get('2');
    const changed = await storedCopy();
    expect(changed?.storedAt).toBeGreaterThan(second?.storedAt ?? Infinity);

    // Purged behind the gateway's back: the next unchanged answer looked at writes it again.
    await redis.del(changed?.key ?? '');
    await get('2');
    const rewritten = await storedCopy();
    expect(rewritten?.key).toBe(changed?.key);
    expect(rewritten?.storedAt).toBeGreaterThan(changed?.storedAt ?? Infinity);

    // And it is what a failed GET is answered with.
    upstream.failWith = 503;
    try {
      const stale = await fetch(`${gw.url}/kept/echo`, { headers: { 'x-request-id': 'kept-copy', 'x-version': '2' } });
      expect(stale.status).toBe(200);
      expect(stale.headers.get('x-fallback-source')).toBe('cache');
      expect(((await stale.json()) as { headers: Record<string, string> }).headers['x-version']).toBe('2');
    } finally {
      upstream.failWith = undefined;
    }
  });
});
