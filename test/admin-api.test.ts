import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { deleteKeys, testKeyPrefix, waitForRedis } from './helpers/cost-stack.js';
import { postGraphql, startTestGateway, type TestGateway } from './helpers/gateway.js';
import { TEST_REDIS_URL } from './helpers/redis.js';
import { metricValue } from './helpers/resilience.js';
import { composeTiny, TINY_SDL_V2, useTinySubgraph } from './helpers/tiny-subgraph.js';

/**
 * The admin API on its own listener, against a real gateway, the tiny subgraph and real Redis:
 * tokens, budgets, breaker pins, cache purges, reloads, the readiness detail and metrics.
 */
const tiny = useTinySubgraph();
const prefix = testKeyPrefix('admin');
const WRITE_TOKEN = 'write-token-0123456789abcdef';
const READ_TOKEN = 'read-token-0123456789abcdef';
const READ_ENV = `GW_TEST_ADMIN_READ_${process.pid}`;
const write = { authorization: `Bearer ${WRITE_TOKEN}` };
const read = { authorization: `Bearer ${READ_TOKEN}` };
const QUERY = '{ warehouses { code } }';

let gw: TestGateway;
let admin: string;
let redis: Redis;
let supergraphPath: string;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gw-admin-'));
  writeFileSync(join(dir, 'token'), `${WRITE_TOKEN}\n`);
  process.env[READ_ENV] = READ_TOKEN;
  supergraphPath = join(dir, 'supergraph.graphql');
  writeFileSync(supergraphPath, readFileSync(tiny.supergraphPath));
  gw = await startTestGateway({
    supergraph: { path: supergraphPath, watch: false },
    redis: { url: TEST_REDIS_URL, keyPrefix: prefix },
    // waitForRedis reads the public /ready's Redis status, which is behind server.readinessDetail.
    server: { readinessDetail: true },
    rateLimit: {
      defaultTier: 'anonymous',
      tiers: {
        anonymous: {
          maxCost: 500,
          maxDepth: 8,
          maxAliases: 10,
          maxRootFields: 5,
          // Next to no refill: what the headers said is still what the store holds when the admin API reads it.
          limits: [
            { name: 'burst', kind: 'token_bucket', capacity: 1000, refillPerSecond: 0.001 },
            { name: 'hourly', kind: 'sliding_window', limit: 5000, windowSeconds: 3600 },
          ],
        },
      },
    },
    metrics: { listener: 'admin' },
    admin: {
      port: 0,
      tokens: [
        { name: 'oncall', file: join(dir, 'token') },
        { name: 'dashboard', env: READ_ENV, access: 'read' },
      ],
    },
  });
  await waitForRedis(gw);
  const listening = gw.logs.find((line) => line.msg === 'admin API listening')[0];
  admin = String(listening?.url);
  redis = new Redis(TEST_REDIS_URL);
});

afterAll(async () => {
  await gw?.close();
  redis?.disconnect();
  delete process.env[READ_ENV];
  await deleteKeys(TEST_REDIS_URL, prefix);
});

const call = async (method: 'GET' | 'POST', path: string, headers: Record<string, string> = {}, body?: unknown) => {
  const response = await fetch(`${admin}${path}`, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: (text ? JSON.parse(text) : undefined) as Record<string, any> };
};

const ROUTES: [method: 'GET' | 'POST', path: string, body?: unknown][] = [
  ['GET', '/admin/clients/ip:127.0.0.1/budget?tier=anonymous'],
  ['POST', '/admin/clients/ip:127.0.0.1/budget/reset?tier=anonymous'],
  ['GET', '/admin/breakers'],
  ['POST', '/admin/breakers/inventory', { state: 'auto' }],
  ['POST', '/admin/cache/purge', {}],
  ['POST', '/admin/reload'],
  ['POST', '/admin/config/reload'],
  ['GET', '/admin/ready'],
];

describe('admin API: listener and tokens', () => {
  it('listens on its own port (loopback), and the public port has none of its routes nor the metrics', async () => {
    expect(admin).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(admin).not.toBe(gw.url);
    for (const [method, path, body] of ROUTES) {
      const response = await fetch(`${gw.url}${path}`, {
        method,
        headers: body === undefined ? write : { ...write, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      expect(response.status, `${method} ${path} on the public port`).toBe(404);
    }
    expect((await fetch(`${gw.url}/metrics`)).status).toBe(404);
    const metrics = await fetch(`${admin}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain('gateway_admin_requests_total');
  });

  it('answers 401 ADMIN_UNAUTHENTICATED on every route without a token or with a wrong one, and never echoes it', async () => {
    for (const [method, path, body] of ROUTES) {
      for (const headers of [
        {} as Record<string, string>,
        { authorization: 'Bearer not-the-token-at-all' },
        { authorization: `Basic ${WRITE_TOKEN}` },
      ]) {
        const answer = await call(method, path, headers, body);
        expect(answer.status, `${method} ${path}`).toBe(401);
        expect(answer.body).toMatchObject({ error: 'ADMIN_UNAUTHENTICATED', request_id: expect.any(String) });
        expect(answer.headers.get('www-authenticate')).toMatch(/^Bearer realm="gateway-admin"/);
      }
    }
    expect(gw.logs.raw).not.toContain(WRITE_TOKEN);
    expect(gw.logs.raw).not.toContain(READ_TOKEN);
    expect(gw.logs.raw).not.toContain('not-the-token-at-all');
    expect(await metricValue(gw, 'gateway_admin_requests_total', { action: 'breakers.read', result: '401' })).toBeGreaterThanOrEqual(3);
  });

  it('lets a read token read but answers 403 ADMIN_FORBIDDEN when it tries to change something', async () => {
    for (const [method, path, body] of ROUTES) {
      const answer = await call(method, path, read, body);
      if (method === 'GET') expect(answer.status, path).toBe(200);
      else expect(answer.body, `${method} ${path}`).toMatchObject({ error: 'ADMIN_FORBIDDEN' });
      if (method === 'POST') expect(answer.status).toBe(403);
    }
  });
});

describe('admin API: budgets', () => {
  it('reads the same limit and remaining points the last GraphQL answer announced, then resets them (Redis keys gone)', async () => {
    await call('POST', '/admin/clients/ip:127.0.0.1/budget/reset?tier=anonymous', write);
    let last: Headers | undefined;
    for (let i = 0; i < 3; i++) {
      const result = await postGraphql(gw.graphqlUrl, { query: QUERY });
      expect(result.status).toBe(200);
      last = result.headers;
    }
    // e.g. `"burst";r=994;t=5436, "hourly";r=4994;t=1800`
    const announced = Object.fromEntries(
      (last?.get('ratelimit') ?? '').split(', ').map((item) => {
        const [, name, r] = /^"(\w+)";r=(\d+);t=\d+$/.exec(item) ?? [];
        return [name, Number(r)];
      }),
    );
    expect(announced.burst).toBeLessThan(1000);
    // The last answer's refund reaches Redis within rateLimit.refundDelayMs (100 ms): from then on
    // the admin API reads what the headers announced.
    await vi.waitFor(
      async () => {
        const budget = await call('GET', '/admin/clients/ip:127.0.0.1/budget?tier=anonymous', read);
        expect(budget.status).toBe(200);
        expect(budget.body).toMatchObject({ client: 'ip:127.0.0.1', tier: 'anonymous' });
        const [burst, hourly] = budget.body.limits;
        expect(burst).toMatchObject({ name: 'burst', kind: 'token_bucket', limit: 1000, remaining: announced.burst });
        expect(hourly).toMatchObject({ name: 'hourly', kind: 'sliding_window', limit: 5000, remaining: announced.hourly });
        expect(burst.resetSeconds).toBeGreaterThan(0);
      },
      { timeout: 2_000, interval: 25 },
    );

    const keys = [`${prefix}rl:{ip:127.0.0.1}:tb:burst`, `${prefix}rl:{ip:127.0.0.1}:sw:hourly`];
    expect(await redis.exists(...keys)).toBe(2);
    const reset = await call('POST', '/admin/clients/ip:127.0.0.1/budget/reset?tier=anonymous', write);
    expect(reset.status).toBe(200);
    expect(reset.body.limits.map((limit: { remaining: number }) => limit.remaining)).toEqual([1000, 5000]);
    expect(await redis.exists(...keys)).toBe(0);
    const after = await postGraphql(gw.graphqlUrl, { query: QUERY });
    expect(after.headers.get('ratelimit')).toMatch(/^"burst";r=99\d;t=\d+, "hourly";r=499\d;t=\d+$/);

    const logged = gw.logs.find((line) => line.msg === 'admin action' && line.action === 'budget.reset' && line.status === 200).at(-1);
    expect(logged).toMatchObject({ by: 'oncall', ip: '127.0.0.1', client: 'ip:127.0.0.1', tier: 'anonymous', keys: 2 });
    expect(await metricValue(gw, 'gateway_admin_requests_total', { action: 'budget.reset', result: 'ok' })).toBeGreaterThanOrEqual(2);
  });

  it('refuses an unknown tier with 400 ADMIN_INVALID_REQUEST', async () => {
    const answer = await call('GET', '/admin/clients/x/budget?tier=platinum', read);
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({ error: 'ADMIN_INVALID_REQUEST', message: 'tier: no tier named platinum in rateLimit.tiers' });
  });
});

describe('admin API: breakers and the fallback cache', () => {
  it('pins a breaker open (calls fail fast, the fallback copy is served), purges the copies (Redis keys gone), and goes back to auto', async () => {
    // A new call: its first answer is held in memory (with Redis, copies go there from a call's next answer).
    const WARM = 'query Warm { warehouses { code } }';
    const copies = async () => (await redis.keys(`${prefix}fallback:inventory:*`)).length;
    const before = await copies();
    const warm = await postGraphql(gw.graphqlUrl, { query: WARM });
    expect(warm.body.data).toEqual({ warehouses: [{ code: 'AMS' }, { code: 'LIS' }] });
    await new Promise((resolve) => setTimeout(resolve, 100)); // past the 10 ms batch of copy writes
    expect(await copies()).toBe(before);
    expect(await metricValue(gw, 'gateway_fallback_held_bytes', {})).toBeGreaterThan(0);
    // Another call's copy in Redis, written from its second answer: the purge takes it too.
    const other = 'query Other { warehouses { code } }';
    for (let i = 0; i < 2; i++) {
      if (i > 0) await new Promise((resolve) => setTimeout(resolve, 1_050)); // past refreshAfterMs (1 s)
      expect((await postGraphql(gw.graphqlUrl, { query: other })).body.errors).toBeUndefined();
    }
    await expect.poll(copies).toBe(before + 1);

    const pinned = await call('POST', '/admin/breakers/inventory', write, { state: 'open' });
    expect(pinned.status).toBe(200);
    expect(pinned.body).toMatchObject({ name: 'inventory', state: 'open', pinned: 'open' });
    const listed = await call('GET', '/admin/breakers', read);
    expect(listed.body.breakers).toContainEqual(expect.objectContaining({ name: 'inventory', state: 'open', pinned: 'open' }));
    const ready = await call('GET', '/admin/ready', read);
    expect(ready.body.subgraphs[0].breaker).toMatchObject({ state: 'open', pinned: 'open' });
    expect(
      await metricValue(gw, 'gateway_circuit_breaker_transitions_total', { breaker: 'inventory', state: 'open', cause: 'pinned' }),
    ).toBe(1);

    const seen = tiny.subgraph.receivedHeaders.length;
    const fromHeld = await postGraphql(gw.graphqlUrl, { query: WARM });
    expect(fromHeld.body.data).toEqual({ warehouses: [{ code: 'AMS' }, { code: 'LIS' }] });
    expect(fromHeld.headers.get('x-fallback-source')).toBe('cache');
    const fromCache = await postGraphql(gw.graphqlUrl, { query: other });
    expect(fromCache.body.data).toEqual({ warehouses: [{ code: 'AMS' }, { code: 'LIS' }] });
    expect(tiny.subgraph.receivedHeaders.length).toBe(seen);

    const purged = await call('POST', '/admin/cache/purge', write, { subgraph: 'inventory' });
    expect(purged.status).toBe(200);
    // At least the copy in Redis and the held answer.
    expect(purged.body.purged.fallback).toBeGreaterThanOrEqual(2);
    expect(await copies()).toBe(0);
    // The purge's mark, for the answers other instances hold.
    expect(await redis.exists(`${prefix}fallback-purges:subgraph:inventory`)).toBe(1);
    expect(await metricValue(gw, 'gateway_fallback_held_bytes', {})).toBe(0);
    for (const query of [WARM, other]) {
      const failed = await postGraphql(gw.graphqlUrl, { query });
      expect(failed.body.data ?? null).toBeNull();
      expect(failed.body.errors?.[0]?.extensions?.code).toBeDefined();
    }
    expect(tiny.subgraph.receivedHeaders.length).toBe(seen);

    const auto = await call('POST', '/admin/breakers/inventory', write, { state: 'auto' });
    expect(auto.body).toMatchObject({ name: 'inventory', state: 'closed', pinned: null });
    const back = await postGraphql(gw.graphqlUrl, { query: QUERY });
    expect(back.body.data).toEqual({ warehouses: [{ code: 'AMS' }, { code: 'LIS' }] });
    expect(tiny.subgraph.receivedHeaders.length).toBe(seen + 1);
    const logged = gw.logs.find((line) => line.action === 'breakers.pin' && line.state === 'open')[0];
    expect(logged).toMatchObject({ by: 'oncall', ip: '127.0.0.1', breaker: 'inventory', status: 200 });
  });

  it('answers 404 BREAKER_NOT_FOUND and 400 for a bad state or a purge by type the fallback cache cannot do', async () => {
    expect((await call('POST', '/admin/breakers/nope', write, { state: 'open' })).body).toMatchObject({ error: 'BREAKER_NOT_FOUND' });
    const bad = await call('POST', '/admin/breakers/inventory', write, { state: 'half' });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toBe('ADMIN_INVALID_REQUEST');
    const byType = await call('POST', '/admin/cache/purge', write, { type: 'Warehouse', key: 'code=AMS' });
    expect(byType.status).toBe(400);
    expect(byType.body.error).toBe('PURGE_SCOPE_UNSUPPORTED');
    // A key not written as name=value, or a type that is not a GraphQL name (a glob would reach every type).
    for (const scope of [{ type: 'Warehouse', key: '{"code":"AMS"}' }, { type: '*' }, { type: 'Ware{house' }]) {
      const refused = await call('POST', '/admin/cache/purge', write, scope);
      expect(refused.status).toBe(400);
      expect(refused.body.error).toBe('ADMIN_INVALID_REQUEST');
    }
    const unknown = await call('POST', '/admin/cache/purge', write, { subgraph: 'ghosts' });
    expect(unknown.body).toMatchObject({ error: 'ADMIN_INVALID_REQUEST' });
  });
});

describe('admin API: supergraph and readiness', () => {
  it('reloads the supergraph now (the watcher is off), says unchanged when it is, and keeps the old one when the new one is broken', async () => {
    expect((await call('POST', '/admin/reload', write)).body).toMatchObject({ result: 'unchanged' });
    const before = await postGraphql(gw.graphqlUrl, { query: '{ warehouses { capacity } }' });
    expect(before.body.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    writeFileSync(supergraphPath, composeTiny(tiny.subgraph.url, TINY_SDL_V2));
    const reloaded = await call('POST', '/admin/reload', write);
    expect(reloaded.status).toBe(200);
    expect(reloaded.body.result).toBe('reloaded');
    const after = await postGraphql(gw.graphqlUrl, { query: '{ warehouses { capacity } }' });
    expect(after.body.data).toEqual({ warehouses: [{ capacity: 1200 }, { capacity: 800 }] });

    writeFileSync(supergraphPath, 'schema { query: Nope }');
    const broken = await call('POST', '/admin/reload', write);
    expect(broken.status).toBe(422);
    expect(broken.body.error).toBe('SUPERGRAPH_RELOAD_FAILED');
    expect((await postGraphql(gw.graphqlUrl, { query: '{ warehouses { capacity } }' })).body.data).toBeDefined();
  });

  it('answers the full readiness detail, without any admin token in it', async () => {
    const ready = await call('GET', '/admin/ready', read);
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({ status: 'ready', phase: 'ready', redis: { status: 'ready' } });
    expect(ready.body.subgraphs[0]).toMatchObject({ name: 'inventory' });
    expect(JSON.stringify(ready.body)).not.toContain(WRITE_TOKEN);
  });
});

describe('admin API: configuration', () => {
  it('is off unless admin.port is set, and refuses a port without tokens or a short secret', async () => {
    const plain = await startTestGateway({ supergraph: { path: tiny.supergraphPath, watch: false } });
    try {
      expect(plain.logs.find((line) => line.msg === 'admin API listening')).toHaveLength(0);
    } finally {
      await plain.close();
    }
    await expect(startTestGateway({ supergraph: { path: tiny.supergraphPath, watch: false }, admin: { port: 0 } })).rejects.toThrow(
      /admin.tokens: the admin API needs at least one token/,
    );
    await expect(
      startTestGateway({
        supergraph: { path: tiny.supergraphPath, watch: false },
        admin: { port: 0, tokens: [{ name: 'x', env: 'GW_TEST_UNSET_ADMIN' }] },
      }),
    ).rejects.toThrow(/admin.tokens.0 \(x\): environment variable GW_TEST_UNSET_ADMIN must hold a token of at least 16 characters/);
    await expect(
      startTestGateway({ supergraph: { path: tiny.supergraphPath, watch: false }, metrics: { listener: 'admin' } }),
    ).rejects.toThrow(/metrics.listener/);
  });
});

describe('admin API: pins shared through Redis', () => {
  it('pins the breaker on every instance when shared breakers are on (key breaker-pin:{name}), and lifts it everywhere', async () => {
    const shared = testKeyPrefix('admin-shared');
    const common = {
      supergraph: { path: tiny.supergraphPath, watch: false },
      redis: { url: TEST_REDIS_URL, keyPrefix: shared },
      server: { readinessDetail: true },
      resilience: { sharedBreakers: { enabled: true, resyncIntervalMs: 200 } },
    };
    const a = await startTestGateway({ ...common, admin: { port: 0, tokens: [{ name: 'oncall', env: READ_ENV }] } });
    const b = await startTestGateway(common);
    try {
      await waitForRedis(a);
      await waitForRedis(b);
      const adminA = String(a.logs.find((line) => line.msg === 'admin API listening')[0]?.url);
      const pin = (state: string) =>
        fetch(`${adminA}/admin/breakers/inventory`, {
          method: 'POST',
          headers: { authorization: `Bearer ${READ_TOKEN}`, 'content-type': 'application/json' },
          body: JSON.stringify({ state }),
        });
      const pinnedOnB = async () => {
        const ready = (await (await fetch(`${b.url}/ready`)).json()) as { subgraphs: { breaker: { pinned?: string } }[] };
        return ready.subgraphs[0]?.breaker.pinned ?? null;
      };
      expect((await pin('open')).status).toBe(200);
      expect(JSON.parse((await redis.get(`${shared}breaker-pin:{inventory}`)) ?? '{}')).toMatchObject({
        breaker: 'inventory',
        pinned: 'open',
      });
      await expect.poll(pinnedOnB, { timeout: 3_000 }).toBe('open');
      const refused = await postGraphql(b.graphqlUrl, { query: QUERY });
      expect(refused.body.data ?? null).toBeNull();
      expect((await pin('auto')).status).toBe(200);
      expect(await redis.exists(`${shared}breaker-pin:{inventory}`)).toBe(0);
      await expect.poll(pinnedOnB, { timeout: 3_000 }).toBeNull();
      expect((await postGraphql(b.graphqlUrl, { query: QUERY })).body.data).toEqual({ warehouses: [{ code: 'AMS' }, { code: 'LIS' }] });
    } finally {
      await a.close();
      await b.close();
      await deleteKeys(TEST_REDIS_URL, shared);
    }
  });
});

describe('admin API: failures of its own', () => {
  it('answers 500 without the cause, and logs the cause under the request id', async () => {
    // Redis refuses every connection: the fallback cache's purge fails.
    const dir = mkdtempSync(join(tmpdir(), 'gw-admin-down-'));
    writeFileSync(join(dir, 'token'), WRITE_TOKEN);
    const down = await startTestGateway({
      // The tiny subgraph's own file: the shared one is left broken by the supergraph reload test.
      supergraph: { path: tiny.supergraphPath, watch: false },
      redis: { url: 'redis://127.0.0.1:1', keyPrefix: testKeyPrefix('admin-down') },
      rateLimit: { enabled: false },
      admin: { port: 0, tokens: [{ name: 'oncall', file: join(dir, 'token') }] },
    });
    try {
      const url = String(down.logs.find((line) => line.msg === 'admin API listening')[0]?.url);
      const response = await fetch(`${url}/admin/cache/purge`, {
        method: 'POST',
        headers: { ...write, 'content-type': 'application/json' },
        body: '{}',
      });
      expect(response.status).toBe(500);
      const body = (await response.json()) as { error: string; request_id: string; message: string };
      expect(body.error).toBe('INTERNAL_SERVER_ERROR');
      expect(body.message).not.toMatch(/127\.0\.0\.1|ECONNREFUSED|writeable/i);
      const logged = down.logs.find((line) => line.msg === 'unhandled error' && line.reqId === body.request_id);
      expect(logged).toHaveLength(1);
      expect(JSON.stringify(logged[0]?.err)).toMatch(/\w/);
      expect(down.logs.find((line) => line.msg === 'admin action' && line.status === 500)).toHaveLength(1);
    } finally {
      await down.close();
    }
  });
});
