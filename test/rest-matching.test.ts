import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../gateway/src/config/index.js';
import { DEV_ISSUER } from '../gateway/src/auth/dev-secret.js';
import { orderRoutes, type MatchSpec } from '../gateway/src/rest/match.js';
import { startTestGateway, type TestGateway } from './helpers/gateway.js';
import { rawRequest, startRestUpstream, type RestUpstream } from './helpers/rest-upstream.js';
import { DEMO_SUPERGRAPH } from './helpers/subgraphs.js';

let upstream: RestUpstream;
let gw: TestGateway;

const open = { auth: { mode: 'optional' as const }, cost: 0 };

beforeAll(async () => {
  upstream = await startRestUpstream();
  const to = upstream.origin;
  gw = await startTestGateway({
    supergraph: { path: DEMO_SUPERGRAPH, watch: false },
    auth: { jwt: { issuers: [DEV_ISSUER] } },
    rest: {
      routes: [
        // Config order is deliberately not the matching order: the most specific route wins.
        { ...open, prefix: '/m', upstream: to, rewrite: '/plain' },
        { ...open, name: 'm-post', prefix: '/m', upstream: to, rewrite: '/posted', methods: ['POST'] },
        { ...open, name: 'canary', prefix: '/m', upstream: to, rewrite: '/canary', headers: [{ name: 'X-Canary', equals: '1' }] },
        { ...open, name: 'traced', prefix: '/m', upstream: to, rewrite: '/traced', headers: [{ name: 'x-trace-me', present: true }] },
        { ...open, name: 'beta', prefix: '/m', upstream: to, rewrite: '/beta', query: [{ name: 'v', regex: '^2\\.[0-9]+$' }] },
        { ...open, exact: '/m/health', upstream: to, rewrite: '/status-page' },
        { ...open, pattern: '/m/users/:id/orders/:order', upstream: to, rewrite: '/api/orders/:order/of/:id' },
        { ...open, pattern: '/m/users/:id', upstream: to },
        { ...open, name: 'wild', prefix: '/m', host: '*.example.com', upstream: to, rewrite: '/wild' },
        { ...open, name: 'exact-host', prefix: '/m', host: 'api.example.com', upstream: to, rewrite: '/api-host' },
        { ...open, name: 'gated', prefix: '/gated', upstream: to, headers: [{ name: 'x-tenant', regex: '^acme$' }] },
      ],
    },
  });
});
afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});

const get = (target: string, headers: Record<string, string> = {}, method = 'GET') => rawRequest(gw.url, target, { method, headers });
const upstreamUrl = (response: { body: string }) => (JSON.parse(response.body) as { url: string }).url;

describe('REST route matching', () => {
  it('a plain prefix route still serves its prefix and everything below it', async () => {
    expect(upstreamUrl(await get('/m/a/b?x=1'))).toBe('/plain/a/b?x=1');
  });

  it('matches on methods: a POST goes to the route that allows POST, a DELETE is 405 with every method the path allows', async () => {
    expect(upstreamUrl(await get('/m/a', {}, 'POST'))).toBe('/posted/a');
    const refused = await get('/m/a', {}, 'DELETE');
    expect(refused.status).toBe(405);
    expect(refused.headers.allow).toBe('GET, HEAD, POST');
  });

  it('matches header predicates: equals (any case of the name), present, and falls through when they do not hold', async () => {
    expect(upstreamUrl(await get('/m/a', { 'x-canary': '1' }))).toBe('/canary/a');
    expect(upstreamUrl(await get('/m/a', { 'x-canary': '2' }))).toBe('/plain/a');
    expect(upstreamUrl(await get('/m/a', { 'x-trace-me': '' }))).toBe('/traced/a');
  });

  it('matches query predicates by regex on the decoded value', async () => {
    expect(upstreamUrl(await get('/m/a?v=2.1'))).toBe('/beta/a?v=2.1');
    expect(upstreamUrl(await get('/m/a?v=%32.5'))).toBe('/beta/a?v=%32.5');
    expect(upstreamUrl(await get('/m/a?v=3.0'))).toBe('/plain/a?v=3.0');
  });

  it('matches an exact path only, before any prefix', async () => {
    expect(upstreamUrl(await get('/m/health'))).toBe('/status-page');
    expect(upstreamUrl(await get('/m/health/deep'))).toBe('/plain/health/deep');
  });

  it('matches patterns with named parameters and puts them into the rewrite; the longer pattern first', async () => {
    expect(upstreamUrl(await get('/m/users/42/orders/a-7?full=1'))).toBe('/api/orders/a-7/of/42?full=1');
    expect(upstreamUrl(await get('/m/users/42'))).toBe('/m/users/42');
    // Not the pattern's shape: the prefix route takes it.
    expect(upstreamUrl(await get('/m/users/42/orders'))).toBe('/plain/users/42/orders');
  });

  it('refuses a parameter that is an encoded dot segment or slash (400), never calls the upstream with it', async () => {
    const before = upstream.hits.length;
    for (const target of ['/m/users/%2e%2e/orders/1', '/m/users/a%2fb', '/m/users/..x']) {
      const response = await get(target);
      expect(response.status, target).toBe(400);
      expect(JSON.parse(response.body)).toMatchObject({ error: 'INVALID_PATH' });
    }
    expect(upstream.hits.length).toBe(before);
  });

  it('matches on host: exact before wildcard, the wildcard for names below it only, the port ignored', async () => {
    expect(upstreamUrl(await get('/m/a', { host: 'api.example.com:8080' }))).toBe('/api-host/a');
    expect(upstreamUrl(await get('/m/a', { host: 'API.Example.com' }))).toBe('/api-host/a');
    expect(upstreamUrl(await get('/m/a', { host: 'eu.shop.example.com' }))).toBe('/wild/a');
    expect(upstreamUrl(await get('/m/a', { host: 'example.com' }))).toBe('/plain/a');
    // A host route outranks a more specific path without a host.
    expect(upstreamUrl(await get('/m/health', { host: 'api.example.com' }))).toBe('/api-host/health');
  });

  it('a request under a route path that no route matches is 404 in the REST error shape, with no upstream call', async () => {
    const before = upstream.hits.length;
    const response = await get('/gated/x', { 'x-tenant': 'other', 'x-request-id': 'match-404' });
    expect(response.status).toBe(404);
    expect(JSON.parse(response.body)).toEqual({ error: 'NOT_FOUND', message: 'No route matches this path.', request_id: 'match-404' });
    expect(upstream.hits.length).toBe(before);
    expect(upstreamUrl(await get('/gated/x', { 'x-tenant': 'acme' }))).toBe('/gated/x');
  });
});

describe('REST route order and validation', () => {
  const route = (spec: Partial<MatchSpec>): MatchSpec => ({ methods: ['GET'], ...spec });

  it('orders host, then path kind and length, then predicates, then config order', () => {
    const routes = [
      route({ prefix: '/' }),
      route({ prefix: '/a' }),
      route({ prefix: '/a', headers: [{ name: 'x', present: true }] }),
      route({ pattern: '/a/:id' }),
      route({ pattern: '/a/b' }),
      route({ exact: '/a/b' }),
      route({ prefix: '/', host: '*.example.com' }),
      route({ prefix: '/', host: 'a.example.com' }),
      route({ prefix: '/a', query: [{ name: 'q', equals: '1' }] }),
    ];
    expect(orderRoutes(routes, (r) => r).map((r) => routes.indexOf(r))).toEqual([7, 6, 5, 4, 3, 2, 8, 1, 0]);
  });

  const load =
    (...routes: Record<string, unknown>[]) =>
    () =>
      loadConfig({ env: {}, overrides: { rest: { routes: routes.map((r) => ({ upstream: 'http://u', ...r })) as never } } });

  it('refuses two routes that match exactly the same requests, and accepts routes that differ in any matcher', () => {
    expect(load({ pattern: '/u/:id' }, { pattern: '/u/:uid', name: 'other' })).toThrow(/matches exactly the same requests as routes\[0\]/);
    expect(
      load({ prefix: '/a', headers: [{ name: 'X-A', equals: '1' }] }, { prefix: '/a', name: 'b', headers: [{ name: 'x-a', equals: '1' }] }),
    ).toThrow(/duplicate prefix \/a/);
    expect(load({ prefix: '/a', host: 'x.io' }, { prefix: '/a', host: 'X.io', name: 'b' })).toThrow(/same requests/);
    expect(load({ prefix: '/a' }, { prefix: '/a', name: 'b', methods: ['POST'] })).not.toThrow();
    expect(load({ prefix: '/a' }, { prefix: '/a', name: 'b', query: [{ name: 'v', present: true }] })).not.toThrow();
  });

  it('refuses unclear routes: no or two paths, two unnamed routes on one path, unknown rewrite parameters, bad predicates and hosts', () => {
    expect(load({})).toThrow(/exactly one of prefix, exact or pattern/);
    expect(load({ prefix: '/a', exact: '/a' })).toThrow(/exactly one of prefix, exact or pattern/);
    expect(load({ prefix: '/a' }, { prefix: '/a', methods: ['POST'] })).toThrow(/two routes named \/a/);
    expect(load({ pattern: '/u/:id', rewrite: '/x/:uid' })).toThrow(/:uid is not a parameter/);
    expect(load({ pattern: '/u/:id/:id' })).toThrow(/each parameter name once/);
    expect(load({ prefix: '/a', headers: [{ name: 'x', equals: '1', present: true }] })).toThrow(/exactly one of present, equals or regex/);
    expect(load({ prefix: '/a', query: [{ name: 'x', regex: '(' }] })).toThrow(/valid regular expression/);
    expect(load({ prefix: '/a', host: 'a.example.com:80' })).toThrow(/no port/);
    expect(load({ prefix: '/a', host: 'a.*.com' })).toThrow();
  });
});
