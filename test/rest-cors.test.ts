import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEV_ISSUER } from '../gateway/src/auth/dev-secret.js';
import { loadConfig } from '../gateway/src/config/index.js';
import { devBearer } from './helpers/auth.js';
import { startTestGateway, type TestGateway } from './helpers/gateway.js';
import { startRestUpstream, type RestUpstream } from './helpers/rest-upstream.js';
import { DEMO_SUPERGRAPH } from './helpers/subgraphs.js';

const APP = 'https://app.example';
const PARTNER = 'https://a.partner.example';

let upstream: RestUpstream;
let gw: TestGateway;

beforeAll(async () => {
  upstream = await startRestUpstream();
  gw = await startTestGateway({
    supergraph: { path: DEMO_SUPERGRAPH, watch: false },
    auth: { jwt: { issuers: [DEV_ISSUER] } },
    // The gateway-wide policy: routes without their own follow it.
    server: { cors: { origins: [APP], maxAgeSeconds: 60 } },
    rest: {
      routes: [
        { prefix: '/wide', upstream: upstream.origin },
        {
          prefix: '/partner',
          upstream: upstream.origin,
          methods: ['GET', 'PUT'],
          cors: {
            origins: ['https://*.partner.example', 'https://exact.example:8443'],
            allowedHeaders: ['x-api-version', 'content-type'],
            exposedHeaders: ['x-upstream-hop'],
            credentials: true,
            maxAgeSeconds: 120,
          },
        },
        // No CORS here, whatever server.cors says: the upstream handles its own OPTIONS.
        { prefix: '/closed', upstream: upstream.origin, methods: ['GET', 'OPTIONS'], auth: { mode: 'optional' }, cors: { origins: [] } },
      ],
    },
  });
});

afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});

function preflight(path: string, origin: string, method: string, requestHeaders?: string): Promise<Response> {
  return fetch(`${gw.url}${path}`, {
    method: 'OPTIONS',
    headers: {
      origin,
      'access-control-request-method': method,
      ...(requestHeaders ? { 'access-control-request-headers': requestHeaders } : {}),
    },
  });
}

function corsHeaders(response: Response): Record<string, string> {
  return Object.fromEntries([...response.headers].filter(([name]) => name.startsWith('access-control-')));
}

describe('per-route CORS', () => {
  it("answers a preflight with the route's own policy, before auth (required here) and without calling the upstream", async () => {
    const before = upstream.hits.length;
    const response = await preflight('/partner/items/7', PARTNER, 'PUT', 'x-api-version');
    expect(response.status).toBe(204);
    expect(corsHeaders(response)).toEqual({
      'access-control-allow-origin': PARTNER,
      'access-control-allow-credentials': 'true',
      'access-control-allow-methods': 'GET, PUT',
      'access-control-allow-headers': 'x-api-version, content-type',
      'access-control-max-age': '120',
    });
    expect(response.headers.get('vary')).toBe('Origin');
    expect(response.headers.get('www-authenticate')).toBeNull();
    expect(await response.text()).toBe('');
    expect(upstream.hits.length).toBe(before);
  });

  it('matches wildcard subdomains and exact origins with their port; any other origin gets no CORS headers at all', async () => {
    for (const allowed of ['https://a.b.partner.example', 'https://exact.example:8443', 'https://A.Partner.Example']) {
      const response = await preflight('/partner/x', allowed, 'GET');
      expect(response.status).toBe(204);
      expect(response.headers.get('access-control-allow-origin')).toBe(allowed);
    }
    const before = upstream.hits.length;
    for (const refused of [
      'https://partner.example',
      'http://a.partner.example',
      'https://evilpartner.example',
      'https://a.partner.example.evil.example',
      'https://exact.example',
      APP,
    ]) {
      const response = await preflight('/partner/x', refused, 'GET');
      expect(response.status).toBe(204);
      expect(corsHeaders(response)).toEqual({});
    }
    expect(upstream.hits.length).toBe(before);
  });

  it("sets the route's CORS headers on actual answers, in place of the upstream's own", async () => {
    const auth = await devBearer('user-1');
    const response = await fetch(`${gw.url}/partner/own-cors`, { headers: { ...auth, origin: PARTNER, 'x-request-id': 'cors-1' } });
    expect(response.status).toBe(200);
    expect(corsHeaders(response)).toEqual({
      'access-control-allow-origin': PARTNER,
      'access-control-allow-credentials': 'true',
      'access-control-expose-headers': 'x-request-id, x-upstream-hop',
    });
    expect(response.headers.get('vary')).toBe('Accept-Encoding, Origin');
    expect(await response.json()).toEqual({ own: true });

    const refused = await fetch(`${gw.url}/partner/own-cors`, { headers: { ...auth, origin: 'https://evil.example' } });
    expect(refused.status).toBe(200);
    expect(corsHeaders(refused)).toEqual({});
  });

  it('a refusal of an allowed origin carries the CORS headers, so the browser can read it', async () => {
    const response = await fetch(`${gw.url}/partner/x`, { headers: { origin: PARTNER } });
    expect(response.status).toBe(401);
    expect(response.headers.get('access-control-allow-origin')).toBe(PARTNER);
    expect(await response.json()).toMatchObject({ error: 'UNAUTHENTICATED' });
  });

  it('a route without its own policy follows server.cors; a preflight for a method no route allows is 405', async () => {
    const response = await preflight('/wide/x', APP, 'GET', 'content-type');
    expect(response.status).toBe(204);
    expect(corsHeaders(response)).toEqual({
      'access-control-allow-origin': APP,
      'access-control-allow-methods': 'GET, POST',
      'access-control-allow-headers': 'content-type',
      'access-control-max-age': '60',
    });
    expect(corsHeaders(await preflight('/wide/x', PARTNER, 'GET'))).toEqual({});
    const refused = await preflight('/wide/x', APP, 'DELETE');
    expect(refused.status).toBe(405);
    expect(refused.headers.get('allow')).toBe('GET, HEAD');
  });

  it('a route with `origins: []` has no CORS: the preflight goes to the upstream like any OPTIONS', async () => {
    const before = upstream.hits.length;
    const response = await preflight('/closed/echo', APP, 'GET');
    expect(response.status).toBe(200);
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
    expect(((await response.json()) as { method: string }).method).toBe('OPTIONS');
    expect(upstream.hits.length - before).toBe(1);
  });

  it('config: refuses credentials with a `*` origin and malformed origins', () => {
    const route = (cors: Record<string, unknown>) => () =>
      loadConfig({ env: {}, overrides: { rest: { routes: [{ prefix: '/a', upstream: 'http://u', cors }] as never } } });
    expect(route({ origins: ['*'], credentials: true })).toThrow(/credentials: cannot be true with a `\*` origin/);
    expect(route({ origins: ['https://app.example/path'] })).toThrow(/scheme:\/\/host/);
    expect(route({ origins: ['https://a.*.example'] })).toThrow(/scheme:\/\/host/);
    expect(route({ origins: ['https://*.partner.example'] })).not.toThrow();
  });
});
