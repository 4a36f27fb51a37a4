import { Readable } from 'node:stream';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileApiKeyStore } from '../gateway/src/auth/api-key-store.js';
import { createApiKey } from '../gateway/src/auth/api-keys.js';
import { DEV_ISSUER } from '../gateway/src/auth/dev-secret.js';
import type { RestRouteConfig } from '../gateway/src/config/index.js';
import { devBearer } from './helpers/auth.js';
import { startTestGateway, type TestGateway } from './helpers/gateway.js';
import { filler, rawUpload } from './helpers/raw-http.js';
import { rawRequest, startRestUpstream, type RestUpstream } from './helpers/rest-upstream.js';
import { DEMO_SUPERGRAPH } from './helpers/subgraphs.js';

type RouteInput = Partial<Omit<RestRouteConfig, 'auth' | 'fallback' | 'retries'>> & {
  prefix: string;
  upstream: string;
  auth?: Partial<RestRouteConfig['auth']>;
  fallback?: Partial<RestRouteConfig['fallback']>;
  retries?: Partial<RestRouteConfig['retries']>;
};

/** A gateway with REST routes only (the supergraph's subgraphs are never called here). */
async function restGateway(routes: RouteInput[]): Promise<TestGateway> {
  return startTestGateway({
    supergraph: { path: DEMO_SUPERGRAPH, watch: false },
    auth: { jwt: { issuers: [DEV_ISSUER] } },
    rest: { routes: routes as never },
  });
}

interface Echo {
  method: string;
  url: string;
  headers: Record<string, string>;
}

let upstream: RestUpstream;
let gw: TestGateway;
beforeAll(async () => {
  upstream = await startRestUpstream();
  gw = await restGateway([
    {
      prefix: '/legacy/echo',
      upstream: upstream.origin,
      rewrite: '/api/echo',
      methods: ['GET', 'HEAD', 'POST'],
      auth: { mode: 'optional' },
      timeouts: { firstByteMs: 400 },
    },
    { prefix: '/legacy/auth', upstream: upstream.origin, rewrite: '/api/echo', auth: { mode: 'required', forwardAuthorization: true } },
    { prefix: '/legacy/admin', upstream: upstream.origin, rewrite: '/api/echo', auth: { mode: 'required', scopes: ['admin:read'] } },
  ]);
});
afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});

describe('REST passthrough: forwarding and header hygiene', () => {
  it('rewrites the prefix, keeps the query, sets forwarding, request id and principal headers, strips what the client must not set', async () => {
    const headers = {
      ...(await devBearer('user-7', ['read:email'])),
      'x-request-id': 'rest-hygiene-1',
      'x-user-id': 'admin',
      'x-user-scopes': 'everything',
      'x-forwarded-for': '6.6.6.6',
      forwarded: 'for=6.6.6.6',
      'x-custom': 'kept',
      'x-drop-me': 'listed in connection',
      connection: 'keep-alive, x-drop-me',
    };
    const response = await rawRequest(gw.url, '/legacy/echo/a.b/.c..d?limit=2&x=%20y', { headers });
    expect(response.status).toBe(200);
    const echo = JSON.parse(response.body) as Echo;
    expect(echo.url).toBe('/api/echo/a.b/.c..d?limit=2&x=%20y');
    expect(echo.headers['x-request-id']).toBe('rest-hygiene-1');
    expect(echo.headers['x-user-id']).toBe('user-7');
    expect(echo.headers['x-user-scopes']).toBe('read:email');
    expect(echo.headers['x-auth-kind']).toBe('user');
    expect(echo.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(echo.headers['x-forwarded-proto']).toBe('http');
    expect(echo.headers['x-forwarded-host']).toBe(new URL(gw.url).host);
    expect(echo.headers.host).toBe(new URL(upstream.origin).host);
    expect(echo.headers['x-custom']).toBe('kept');
    for (const name of ['authorization', 'forwarded', 'x-drop-me']) expect(echo.headers[name]).toBeUndefined();
    // Response: the upstream's own headers pass, hop-by-hop ones do not; the request id is the client's.
    expect(response.headers['x-upstream-hop']).toBe('yes');
    expect(response.headers['proxy-authenticate']).toBeUndefined();
    expect(response.headers['keep-alive']).not.toBe('timeout=5');
    expect(response.headers['x-request-id']).toBe('rest-hygiene-1');
  });

  it('passes a query string through as it came, dots, stray percents and Latin-1 bytes included', async () => {
    const query = '?next=../cart&q=50%&name=M%FCller&sort=a,b&sort=c&flag';
    const response = await rawRequest(gw.url, `/legacy/echo/q${query}`);
    expect(response.status).toBe(200);
    expect((JSON.parse(response.body) as Echo).url).toBe(`/api/echo/q${query}`);
  });

  it('forwards Authorization only on routes that ask for it', async () => {
    const auth = await devBearer('user-8');
    const response = await fetch(`${gw.url}/legacy/auth/x`, { headers: auth });
    expect(response.status).toBe(200);
    const echo = (await response.json()) as Echo;
    expect(echo.headers.authorization).toBe(auth.authorization);
  });

  it('an anonymous caller gets kind and tier only, never an id', async () => {
    const echo = (await (await fetch(`${gw.url}/legacy/echo`, { headers: { 'x-user-id': 'forged' } })).json()) as Echo;
    expect(echo.url).toBe('/api/echo');
    expect(echo.headers['x-auth-kind']).toBe('anonymous');
    expect(echo.headers['x-user-id']).toBeUndefined();
  });

  it('passes redirects through without following them', async () => {
    const before = upstream.hits.length;
    const response = await fetch(`${gw.url}/legacy/echo/redirect`, { redirect: 'manual' });
    expect(response.status).toBe(302);
    expect(response.headers.get('location')).toBe('/somewhere/else');
    expect(upstream.hits.length - before).toBe(1);
  });
});

describe('REST passthrough: path safety', () => {
  const attacks = [
    '/legacy/echo/../../admin',
    '/legacy/echo/..',
    '/legacy/echo/./x',
    '/legacy/echo/%2e%2e/admin',
    '/legacy/echo/%2E%2E/%2E%2E/admin',
    '/legacy/echo/.%2e/admin',
    '/legacy/echo/..%2fadmin',
    '/legacy/echo/x%2F..%2F..%2Fadmin',
    '/legacy/echo/%252e%252e/admin',
    '/legacy/echo/%252e%252e%252fadmin',
    '/legacy/echo/..\\..\\admin',
    '/legacy/echo/%5c..%5cadmin',
    '/legacy/echo//admin',
    '/legacy/echo/%00',
    '/legacy/echo/%zz',
    '/legacy/echo/...',
    '/legacy/echo/x../y',
    '/legacy/../graphql',
    '/legacy/echo/../../graphql',
  ];

  it.each(attacks)('%s never reaches the upstream', async (target) => {
    const before = upstream.hits.length;
    const response = await rawRequest(gw.url, target);
    expect([400, 404]).toContain(response.status);
    const body = JSON.parse(response.body) as { error: string; request_id: string };
    expect(['INVALID_PATH', 'NOT_FOUND']).toContain(body.error);
    expect(body.request_id).toBe(response.headers['x-request-id']);
    expect(upstream.hits.length).toBe(before);
  });

  it('every path the upstream ever received stays under the rewritten prefix', () => {
    expect(upstream.hits.length).toBeGreaterThan(0);
    for (const hit of upstream.hits) {
      expect(hit.url.startsWith('/api/echo')).toBe(true);
      expect(hit.url.split('?')[0]).not.toMatch(/(^|\/)\.\.?(\/|$)|%2e|%2f|%5c|\\/i);
    }
  });

  it('a path under no route is 404 without any upstream call', async () => {
    const before = upstream.hits.length;
    for (const target of ['/legacy/nothing', '/legacy/echoes', '/legacy', '/api/echo']) {
      const response = await rawRequest(gw.url, target);
      expect(response.status).toBe(404);
      expect(JSON.parse(response.body)).toMatchObject({ error: 'NOT_FOUND' });
    }
    expect(upstream.hits.length).toBe(before);
  });

  it('a method the route does not allow is 405 with Allow, without any upstream call', async () => {
    const before = upstream.hits.length;
    const response = await fetch(`${gw.url}/legacy/echo/x`, { method: 'DELETE' });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('GET, HEAD, POST');
    expect(await response.json()).toMatchObject({ error: 'METHOD_NOT_ALLOWED' });
    expect(upstream.hits.length).toBe(before);
  });
});

describe('REST passthrough: auth', () => {
  it('401 with a challenge without a credential on a required route, before any upstream call', async () => {
    const before = upstream.hits.length;
    const response = await fetch(`${gw.url}/legacy/auth/x`, { headers: { 'x-request-id': 'rest-401' } });
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe('Bearer realm="gateway"');
    expect(await response.json()).toEqual({ error: 'UNAUTHENTICATED', message: expect.any(String), request_id: 'rest-401' });
    expect(upstream.hits.length).toBe(before);
  });

  it('401 for a bad token, even on an optional route', async () => {
    const response = await fetch(`${gw.url}/legacy/echo/x`, { headers: { authorization: 'Bearer not.a.jwt' } });
    expect(response.status).toBe(401);
    expect(((await response.json()) as { error: string }).error).toBe('UNAUTHENTICATED');
  });

  it('403 without the route scope, 200 with it', async () => {
    const before = upstream.hits.length;
    const without = await fetch(`${gw.url}/legacy/admin/x`, { headers: await devBearer('user-9', ['read:email']) });
    expect(without.status).toBe(403);
    expect(without.headers.get('www-authenticate')).toContain('error="insufficient_scope"');
    expect(await without.json()).toMatchObject({ error: 'FORBIDDEN', message: 'This route needs the scope admin:read.' });
    expect(upstream.hits.length).toBe(before);
    const withScope = await fetch(`${gw.url}/legacy/admin/x`, { headers: await devBearer('user-9', ['admin:read']) });
    expect(withScope.status).toBe(200);
  });
});

describe('REST passthrough: upstream failures', () => {
  it('504 UPSTREAM_TIMEOUT when the upstream does not answer within the route timeout', async () => {
    const response = await fetch(`${gw.url}/legacy/echo/slow?ms=3000`, { headers: { 'x-request-id': 'rest-504' } });
    expect(response.status).toBe(504);
    expect(await response.json()).toMatchObject({ error: 'UPSTREAM_TIMEOUT', request_id: 'rest-504' });
    // A timeout is not retried (the upstream may still be working on it).
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(gw.logs.completed('rest-504')[0]).toMatchObject({ status: 504, attempts: 1, route: '/legacy/echo' });
    expect(String(gw.logs.completed('rest-504')[0]?.failure)).toMatch(/^timeout/);
  });

  it('502 UPSTREAM_BAD_RESPONSE when the upstream answers with something that is not HTTP', async () => {
    const response = await fetch(`${gw.url}/legacy/echo/garbage`);
    expect(response.status).toBe(502);
    expect(await response.json()).toMatchObject({ error: 'UPSTREAM_BAD_RESPONSE' });
  });

  it("an upstream's own 4xx and 5xx answers are passed on as they are", async () => {
    const notFound = await fetch(`${gw.url}/legacy/echo/status?code=404`);
    expect(notFound.status).toBe(404);
    expect(await notFound.text()).toBe('as asked');
    const failing = await fetch(`${gw.url}/legacy/echo/status?code=500`);
    expect(failing.status).toBe(500);
    expect(await failing.text()).toBe('as asked');
  });

  it('writes one log line per request with the route, principal and upstream status, and counts it per route', async () => {
    const response = await fetch(`${gw.url}/legacy/echo/logged?secret=1`, {
      headers: { ...(await devBearer('user-10')), 'x-request-id': 'rest-log-1' },
    });
    expect(response.status).toBe(200);
    await response.text();
    await new Promise((resolve) => setTimeout(resolve, 20));
    const lines = gw.logs.completed('rest-log-1');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      method: 'GET',
      path: '/legacy/echo/logged',
      status: 200,
      route: '/legacy/echo',
      upstreamStatus: 200,
      attempts: 1,
      principal: `user:${DEV_ISSUER.issuer}:user-10`,
    });
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    expect(metrics).toMatch(/gateway_rest_requests_total\{route="\/legacy\/echo",method="GET",status_class="2xx"\} [1-9]/);
    expect(metrics).toMatch(/gateway_rest_requests_total\{route="\/legacy\/echo",method="GET",status_class="5xx"\} [1-9]/);
    expect(metrics).toMatch(/gateway_rest_request_duration_seconds_count\{route="\/legacy\/auth",status_class="4xx"\} [1-9]/);
    // Labels are route prefixes, never raw paths.
    expect(metrics).not.toContain('/legacy/echo/logged');
  });
});

describe('REST passthrough: breaker, retries', () => {
  let failing: RestUpstream;
  let breakerGw: TestGateway;
  beforeAll(async () => {
    failing = await startRestUpstream();
    breakerGw = await startTestGateway({
      supergraph: { path: DEMO_SUPERGRAPH, watch: false },
      auth: { jwt: { issuers: [DEV_ISSUER] } },
      // /ready shows the routes' breakers only with the detail switch on.
      server: { readinessDetail: true },
      // /breaker shares the users subgraph's breaker (opens after 3 failed calls); /retry has its own (10).
      subgraphs: { users: { breaker: { volumeThreshold: 3, resetTimeoutMs: 60_000 } } },
      rest: {
        routes: [
          {
            prefix: '/retry',
            upstream: failing.origin,
            methods: ['GET', 'POST'],
            auth: { mode: 'optional' },
            retries: { maxRetries: 2, baseDelayMs: 1, maxDelayMs: 5 },
          },
          { prefix: '/breaker', upstream: failing.origin, breaker: 'users', auth: { mode: 'optional' }, retries: { maxRetries: 0 } },
        ],
      },
    });
  });
  afterAll(async () => {
    await breakerGw?.close();
    await failing?.close();
  });

  it('retries a GET after a 503, never a POST (counted at the upstream)', async () => {
    failing.failWith = 503;
    let before = failing.hits.length;
    const post = await fetch(`${breakerGw.url}/retry/x`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"a":1}',
    });
    expect(post.status).toBe(503);
    expect(await post.text()).toBe('failing with 503');
    expect(failing.hits.length - before).toBe(1);

    before = failing.hits.length;
    const get = await fetch(`${breakerGw.url}/retry/x`);
    expect(get.status).toBe(503);
    expect(await get.text()).toBe('failing with 503');
    expect(failing.hits.length - before).toBe(3);
    failing.failWith = undefined;
  });

  it('503 UPSTREAM_UNAVAILABLE once the breaker opens, without calling the upstream; the state shows in /ready and the gauge', async () => {
    await failing.kill();
    for (let i = 0; i < 3; i++) {
      const response = await fetch(`${breakerGw.url}/breaker/x`);
      expect(response.status).toBe(502);
      await response.text();
    }
    await failing.revive();
    const before = failing.hits.length;
    const response = await fetch(`${breakerGw.url}/breaker/x`, { headers: { 'x-request-id': 'rest-503' } });
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ error: 'UPSTREAM_UNAVAILABLE', request_id: 'rest-503' });
    expect(failing.hits.length).toBe(before);
    const ready = (await (await fetch(`${breakerGw.url}/ready`)).json()) as {
      rest: { prefix: string; breaker: string; state: { state: string } }[];
    };
    expect(ready.rest.find((route) => route.prefix === '/breaker')).toMatchObject({ breaker: 'users', state: { state: 'open' } });
    expect(ready.rest.find((route) => route.prefix === '/retry')).toMatchObject({ breaker: 'rest:/retry', state: { state: 'closed' } });
    const metrics = await (await fetch(`${breakerGw.url}/metrics`)).text();
    // The subgraph's own breaker: GraphQL calls to users now fail fast too.
    expect(metrics).toContain('gateway_circuit_breaker_state{subgraph="users"} 2');
  });
});

describe('REST passthrough: behind a trusted proxy, HEAD, bulkhead', () => {
  let proxied: TestGateway;
  beforeAll(async () => {
    proxied = await startTestGateway({
      supergraph: { path: DEMO_SUPERGRAPH, watch: false },
      auth: { jwt: { issuers: [DEV_ISSUER] } },
      server: { trustedProxies: ['127.0.0.1'] },
      rest: {
        routes: [
          {
            prefix: '/one',
            upstream: upstream.origin,
            rewrite: '/api',
            auth: { mode: 'optional' },
            maxConcurrent: 1,
            retries: { maxRetries: 0 },
          },
        ],
      },
    });
  });
  afterAll(async () => {
    await proxied?.close();
  });

  it('extends the X-Forwarded-For chain of a trusted proxy and keeps its proto and host; the anonymous caller is the client, not the proxy', async () => {
    const response = await rawRequest(proxied.url, '/one/echo', {
      headers: {
        'x-forwarded-for': '203.0.113.9',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'api.example.com',
        'x-request-id': 'rest-xff',
      },
    });
    expect(response.status).toBe(200);
    const echo = JSON.parse(response.body) as Echo;
    expect(echo.headers['x-forwarded-for']).toBe('203.0.113.9, 127.0.0.1');
    expect(echo.headers['x-forwarded-proto']).toBe('https');
    expect(echo.headers['x-forwarded-host']).toBe('api.example.com');
    expect(proxied.logs.completed('rest-xff')[0]).toMatchObject({ principal: 'ip:203.0.113.9' });
  });

  it('HEAD gets the headers and no body', async () => {
    const response = await fetch(`${proxied.url}/one/download?bytes=1000`, { method: 'HEAD' });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-length')).toBe('1000');
    expect(await response.text()).toBe('');
  });

  it('503 UPSTREAM_UNAVAILABLE when the route already has maxConcurrent requests waiting for the upstream', async () => {
    const slow = fetch(`${proxied.url}/one/slow?ms=600`);
    // Bounded wait until the slow request has reached the upstream.
    for (let i = 0; i < 40 && !upstream.hits.some((hit) => hit.url.startsWith('/api/slow')); i++)
      await new Promise((resolve) => setTimeout(resolve, 10));
    const before = upstream.hits.length;
    const shed = await fetch(`${proxied.url}/one/echo`);
    expect(shed.status).toBe(503);
    expect(await shed.json()).toMatchObject({ error: 'UPSTREAM_UNAVAILABLE' });
    expect(upstream.hits.length).toBe(before);
    expect((await slow).status).toBe(200);
  });
});

describe('REST passthrough: a client that leaves', () => {
  let leaving: TestGateway;
  beforeAll(async () => {
    leaving = await restGateway([
      {
        prefix: '/one',
        upstream: upstream.origin,
        rewrite: '/api',
        auth: { mode: 'optional' },
        maxConcurrent: 1,
        retries: { maxRetries: 0 },
      },
    ]);
  });
  afterAll(async () => {
    await leaving?.close();
  });

  it('frees its place at once: the next request is served, not shed by the bulkhead', async () => {
    const controller = new AbortController();
    const gone = fetch(`${leaving.url}/one/slow?ms=2000&leaving=1`, { signal: controller.signal }).catch((error: unknown) => error);
    for (let i = 0; i < 40 && !upstream.hits.some((hit) => hit.url.includes('leaving=1')); i++)
      await new Promise((resolve) => setTimeout(resolve, 10));
    controller.abort();
    expect(await gone).toBeInstanceOf(Error);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const next = await fetch(`${leaving.url}/one/echo`);
    expect(next.status).toBe(200);
  });
});

describe('REST passthrough: request body limit', () => {
  let limited: TestGateway;
  beforeAll(async () => {
    limited = await restGateway([
      { prefix: '/up', upstream: upstream.origin, rewrite: '/api', methods: ['POST'], auth: { mode: 'optional' }, maxBodyBytes: 1000 },
    ]);
  });
  afterAll(async () => {
    await limited?.close();
  });
  const chunked = (bytes: number) =>
    Readable.from(
      (function* () {
        for (let sent = 0; sent < bytes; sent += 100) yield Buffer.alloc(100, 0x63);
      })(),
    );

  it('forwards a body within the limit, streamed or not', async () => {
    const plain = await request(`${limited.url}/up/upload`, {
      method: 'POST',
      body: Buffer.alloc(1000),
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(plain.statusCode).toBe(200);
    expect(await plain.body.json()).toEqual({ bytes: 1000 });
    const streamed = await request(`${limited.url}/up/upload`, {
      method: 'POST',
      body: chunked(900),
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(streamed.statusCode).toBe(200);
    expect(await streamed.body.json()).toEqual({ bytes: 900 });
  });

  it('answers `Expect: 100-continue` itself and forwards the upload without it', async () => {
    const { request: httpRequest } = await import('node:http');
    const url = new URL(limited.url);
    const hitsBefore = upstream.hits.length;
    const answer = await new Promise<{ status: number; continued: boolean; body: string }>((resolve, reject) => {
      let continued = false;
      const req = httpRequest({
        host: url.hostname,
        port: url.port,
        method: 'POST',
        path: '/up/upload',
        headers: { expect: '100-continue', 'content-type': 'application/octet-stream', 'content-length': '800' },
      });
      // The body goes only once the gateway has said to go on.
      req.on('continue', () => {
        continued = true;
        req.end(Buffer.alloc(800, 0x62));
      });
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, continued, body: Buffer.concat(chunks).toString('utf8') }));
      });
      req.on('error', reject);
      req.flushHeaders();
    });
    expect(answer).toEqual({ status: 200, continued: true, body: JSON.stringify({ bytes: 800 }) });
    const hit = upstream.hits.slice(hitsBefore).find((h) => h.url === '/api/upload');
    expect(hit?.headers.expect).toBeUndefined();
  });

  it('413 for a larger Content-Length before any upstream call', async () => {
    const before = upstream.hits.length;
    const response = await request(`${limited.url}/up/upload`, {
      method: 'POST',
      body: Buffer.alloc(1001),
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(response.statusCode).toBe(413);
    expect(await response.body.json()).toMatchObject({ error: 'PAYLOAD_TOO_LARGE' });
    expect(upstream.hits.length).toBe(before);
  });

  it('413 for a chunked body that runs past the limit; the upstream never gets more than the limit', async () => {
    const before = upstream.progress.uploadReceived;
    const response = await request(`${limited.url}/up/upload`, {
      method: 'POST',
      body: chunked(5000),
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(response.statusCode).toBe(413);
    expect(await response.body.json()).toMatchObject({ error: 'PAYLOAD_TOO_LARGE' });
    expect(upstream.progress.uploadReceived - before).toBeLessThanOrEqual(1000);
  });

  it('a client that sends 5 MB past the limit in full reads its 413: the connection is drained, not reset', async () => {
    const head = 'POST /up/upload HTTP/1.1\r\nhost: gw\r\ncontent-type: application/octet-stream\r\ntransfer-encoding: chunked\r\n\r\n';
    const result = await rawUpload(limited.url, head, filler(5 * 1_048_576, { chunked: true }));
    expect(result.response?.status).toBe(413);
    expect(JSON.parse(result.response?.body ?? '')).toMatchObject({ error: 'PAYLOAD_TOO_LARGE' });
    expect(result.error).toBeUndefined();
    expect(result.written).toBeGreaterThan(5 * 1_048_576);
  });
});

describe('REST passthrough: API key callers', () => {
  let keyed: TestGateway;
  let dir: string;
  let key: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rest-keys-'));
    const file = join(dir, 'keys.json');
    ({ key } = await createApiKey(new FileApiKeyStore(file), { owner: 'billing-service', tier: 'pro', scopes: ['users:read'] }));
    keyed = await startTestGateway({
      supergraph: { path: DEMO_SUPERGRAPH, watch: false },
      auth: { apiKeys: { file } },
      rest: {
        routes: [
          { prefix: '/svc', upstream: upstream.origin, rewrite: '/api', auth: { scopes: ['users:read'], forwardAuthorization: true } },
        ] as never,
      },
    });
  });
  afterAll(async () => {
    await keyed?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('authenticates by API key, tells the upstream who calls, and never forwards the key (even with forwardAuthorization)', async () => {
    const response = await fetch(`${keyed.url}/svc/echo`, { headers: { 'x-api-key': key } });
    expect(response.status).toBe(200);
    const echo = (await response.json()) as Echo;
    expect(echo.headers['x-api-key']).toBeUndefined();
    expect(JSON.stringify(echo.headers)).not.toContain(key);
    expect(echo.headers['x-auth-kind']).toBe('api_key');
    expect(echo.headers['x-user-id']).toBe('billing-service');
    expect(echo.headers['x-user-tier']).toBe('pro');
  });
});
