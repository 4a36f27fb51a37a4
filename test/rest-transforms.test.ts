import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEV_ISSUER, signDevToken } from '../gateway/src/auth/dev-secret.js';
import { loadConfig } from '../gateway/src/config/index.js';
import { startTestGateway, type TestGateway } from './helpers/gateway.js';
import { rawRequest, startRestUpstream, type RestUpstream } from './helpers/rest-upstream.js';
import { DEMO_SUPERGRAPH } from './helpers/subgraphs.js';

let upstream: RestUpstream;
let gw: TestGateway;
let token: Record<string, string>;

beforeAll(async () => {
  upstream = await startRestUpstream();
  token = { authorization: `Bearer ${await signDevToken({ sub: 'user-9', tier: 'pro' })}` };
  const to = upstream.origin;
  gw = await startTestGateway({
    supergraph: { path: DEMO_SUPERGRAPH, watch: false },
    auth: { jwt: { issuers: [DEV_ISSUER] } },
    rest: {
      routes: [
        {
          pattern: '/t/users/:id/echo',
          upstream: to,
          rewrite: '/api/users/:id/echo',
          auth: { mode: 'optional' },
          cost: 0,
          transform: {
            request: {
              headers: {
                remove: ['X-Drop'],
                rename: { 'x-old-name': 'x-new-name', 'x-custom': 'x-request-id' },
                replace: { 'x-tier-hint': '$(principal.tier)' },
                add: {
                  'x-user-ref': 'user $(path.id) by $(principal.id) of $(principal.claim.iss)',
                  'x-user-id': 'spoofed',
                  'x-constant': 'kept',
                },
              },
              query: { remove: ['debug'], rename: { q: 'query' }, replace: { limit: '$(path.id)' }, add: { v: '2' } },
            },
            response: {
              headers: {
                remove: ['x-upstream-hop'],
                add: { 'x-served-by': 'gateway', 'x-request-id': 'spoofed' },
                rename: { 'content-type': 'x-was-content-type' },
              },
              json: { remove: ['headers', 'url'], rename: { method: 'verb' } },
            },
          },
        },
        {
          prefix: '/t/secretless',
          upstream: to,
          rewrite: '/api',
          auth: { mode: 'optional' },
          cost: 0,
          transform: { request: { query: { remove: ['api_key'] } } },
        },
        {
          prefix: '/t/list',
          upstream: to,
          auth: { mode: 'optional' },
          cost: 0,
          transform: {
            response: { json: { remove: ['items.secret', 'internal.token'], rename: { 'internal.shard': 'partition' }, maxBytes: 400 } },
          },
        },
      ],
    },
  });
});
afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});

describe('REST request transforms', () => {
  it('removes, renames, replaces and adds request headers, with path parameters, the principal and a claim in values', async () => {
    await rawRequest(gw.url, '/t/users/42/echo', {
      headers: { ...token, 'x-drop': '1', 'x-old-name': 'moved', 'x-tier-hint': 'free', 'x-constant': 'client', 'x-request-id': 'tr-1' },
    });
    const hit = upstream.hits.at(-1);
    expect(hit?.url).toBe('/api/users/42/echo?v=2');
    const headers = hit?.headers ?? {};
    expect(headers['x-drop']).toBeUndefined();
    expect(headers['x-old-name']).toBeUndefined();
    expect(headers['x-new-name']).toBe('moved');
    expect(headers['x-tier-hint']).toBe('pro');
    expect(headers['x-user-ref']).toBe(`user 42 by user-9 of ${DEV_ISSUER.issuer}`);
    // add only when absent: the client's value stays.
    expect(headers['x-constant']).toBe('client');
  });

  it('never touches the identity headers the gateway sets', async () => {
    await rawRequest(gw.url, '/t/users/42/echo', { headers: { ...token, 'x-custom': 'spoof-id', 'x-request-id': 'tr-2' } });
    const headers = upstream.hits.at(-1)?.headers ?? {};
    expect(headers['x-request-id']).toBe('tr-2');
    expect(headers['x-user-id']).toBe('user-9');
    // Anonymous: a placeholder with nothing to fill in skips the step; the spoofed identity never passes.
    await rawRequest(gw.url, '/t/users/42/echo');
    const anonymous = upstream.hits.at(-1)?.headers ?? {};
    expect(anonymous['x-user-ref']).toBeUndefined();
    expect(anonymous['x-user-id']).not.toBe('spoofed');
  });

  it('removes, renames, replaces and adds query parameters', async () => {
    await rawRequest(gw.url, '/t/users/7/echo?debug=1&q=a%20b&limit=100&keep=x');
    expect(upstream.hits.at(-1)?.url).toBe('/api/users/7/echo?limit=7&keep=x&query=a+b&v=2');
  });

  it("sends no query when the transform removes every parameter (never the client's own)", async () => {
    const response = await rawRequest(gw.url, '/t/secretless/echo?api_key=SECRET');
    expect(response.status).toBe(200);
    expect(upstream.hits.at(-1)?.url).toBe('/api/echo');
  });
});

describe('REST response transforms', () => {
  it('changes response headers except the ones the gateway owns, and removes and renames fields of a JSON answer', async () => {
    const response = await rawRequest(gw.url, '/t/users/42/echo', { headers: { 'x-request-id': 'tr-3' } });
    expect(response.status).toBe(200);
    expect(response.headers['x-upstream-hop']).toBeUndefined();
    expect(response.headers['x-served-by']).toBe('gateway');
    expect(response.headers['x-was-content-type']).toBe('application/json');
    expect(response.headers['x-request-id']).toBe('tr-3');
    expect(JSON.parse(response.body)).toEqual({ verb: 'GET' });
    expect(response.headers['content-length']).toBe(String(Buffer.byteLength(response.body)));
    expect(gw.logs.completed('tr-3')[0]).toMatchObject({ transform: 'json transformed' });
  });

  it('asks the upstream for an uncompressed answer when a JSON transform is to read it', async () => {
    const response = await rawRequest(gw.url, '/t/list/items?n=1', { headers: { 'accept-encoding': 'gzip, br' } });
    expect(upstream.hits.at(-1)?.headers['accept-encoding']).toBe('identity');
    expect(JSON.parse(response.body)).toMatchObject({ items: [{ id: 0, name: 'item-0' }] });
  });

  it('removes nested fields through arrays and renames a nested one, in a chunked answer within maxBytes', async () => {
    const response = await rawRequest(gw.url, '/t/list/items?n=2', { headers: { 'x-request-id': 'tr-4' } });
    expect(JSON.parse(response.body)).toEqual({
      items: [
        { id: 0, name: 'item-0' },
        { id: 1, name: 'item-1' },
      ],
      internal: { partition: 3 },
      total: 2,
    });
    expect(response.headers.etag).toBeUndefined();
  });

  it('streams a bigger answer and a non-JSON one through untouched, and the log line says why', async () => {
    const big = await rawRequest(gw.url, '/t/list/items?n=40', { headers: { 'x-request-id': 'tr-5' } });
    const parsed = JSON.parse(big.body) as { items: { secret?: string }[]; internal: { token?: string } };
    expect(parsed.items).toHaveLength(40);
    expect(parsed.items[39]?.secret).toBe('s39');
    expect(parsed.internal.token).toBe('t0');
    expect(big.headers.etag).toBe('"v1"');
    expect(gw.logs.completed('tr-5')[0]).toMatchObject({ transform: 'json untouched: larger than maxBytes' });

    const bytes = await rawRequest(gw.url, '/t/list/download?bytes=1000', { headers: { 'x-request-id': 'tr-6' } });
    expect(bytes.body).toBe('a'.repeat(1000));
    expect(gw.logs.completed('tr-6')[0]).toMatchObject({ transform: 'json untouched: not JSON' });
  });
});

describe('transform config', () => {
  const load = (transform: unknown) => () =>
    loadConfig({ env: {}, overrides: { rest: { routes: [{ prefix: '/a', upstream: 'http://u', transform }] as never } } });
  it('refuses unknown steps, bad header names and bad field paths', () => {
    expect(load({ request: { headers: { append: {} } } })).toThrow();
    expect(load({ request: { headers: { add: { 'bad name': 'x' } } } })).toThrow(/header name|Invalid key/);
    expect(load({ response: { json: { remove: ['a..b'] } } })).toThrow(/dotted path/);
    expect(load({ response: { json: { remove: ['a.b'] } } })().rest.routes[0]?.transform?.response?.json?.maxBytes).toBe(1_048_576);
  });
});
