import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEV_ISSUER } from '../gateway/src/auth/dev-secret.js';
import { ConfigError, loadConfig } from '../gateway/src/config/index.js';
import { devBearer } from './helpers/auth.js';
import { startTestGateway, type TestGateway } from './helpers/gateway.js';
import { startTinySubgraph, writeTinySupergraph, type TinySubgraph } from './helpers/tiny-subgraph.js';

const APP = 'https://app.example';

function preflight(url: string, origin: string, method: string, requestHeaders?: string): Promise<Response> {
  return fetch(url, {
    method: 'OPTIONS',
    headers: {
      origin,
      'access-control-request-method': method,
      ...(requestHeaders ? { 'access-control-request-headers': requestHeaders } : {}),
    },
  });
}

describe('CORS config', () => {
  it('refuses credentials with a wildcard origin, naming the key', () => {
    expect(() => loadConfig({ env: {}, overrides: { server: { cors: { origins: ['*'], credentials: true } } } })).toThrow(ConfigError);
    expect(() => loadConfig({ env: {}, overrides: { server: { cors: { origins: ['*'], credentials: true } } } })).toThrow(
      /server\.cors\.credentials: cannot be true with a `\*` origin/,
    );
    expect(loadConfig({ env: {}, overrides: { server: { cors: { origins: ['*'] } } } }).server.cors).toEqual({
      origins: ['*'],
      credentials: false,
      methods: ['GET', 'POST'],
      maxAgeSeconds: 600,
    });
  });
});

describe('CORS through the gateway', () => {
  let subgraph: TinySubgraph;
  let gw: TestGateway;

  beforeAll(async () => {
    subgraph = await startTinySubgraph();
    gw = await startTestGateway({
      supergraph: { path: writeTinySupergraph(subgraph.url), watch: false },
      auth: { required: true, jwt: { issuers: [DEV_ISSUER] } },
      server: { cors: { origins: [APP], credentials: true, maxAgeSeconds: 120 } },
    });
  });

  afterAll(async () => {
    await gw?.close();
    await subgraph?.close();
  });

  it('answers a preflight with 204 and the configured headers, before auth (required here) and CSRF checks', async () => {
    const calls = subgraph.receivedHeaders.length;
    const post = await preflight(gw.graphqlUrl, APP, 'POST', 'authorization, content-type');
    expect(post.status).toBe(204);
    expect(post.headers.get('access-control-allow-origin')).toBe(APP);
    expect(post.headers.get('access-control-allow-credentials')).toBe('true');
    expect(post.headers.get('access-control-allow-methods')).toBe('GET, POST');
    expect(post.headers.get('access-control-allow-headers')).toBe('authorization, content-type');
    expect(post.headers.get('access-control-max-age')).toBe('120');
    expect(post.headers.get('www-authenticate')).toBeNull();
    expect(await post.text()).toBe('');

    // A GET preflight carries no CSRF header: still answered, not CSRF_PREVENTED.
    const get = await preflight(gw.graphqlUrl, APP, 'GET', 'graphql-preflight');
    expect(get.status).toBe(204);
    expect(get.headers.get('access-control-allow-origin')).toBe(APP);
    expect(subgraph.receivedHeaders.length).toBe(calls);
  });

  it('sends no allow-origin to an origin not listed', async () => {
    const result = await preflight(gw.graphqlUrl, 'https://evil.example', 'POST', 'content-type');
    // @fastify/cors still answers 204 (with allow-credentials), but without an allow-origin naming
    // the caller a browser refuses the cross-origin request.
    expect(result.status).toBe(204);
    expect(result.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('puts the CORS headers on real answers, errors included, and exposes the request id', async () => {
    const ok = await fetch(gw.graphqlUrl, {
      method: 'POST',
      headers: { origin: APP, 'content-type': 'application/json', ...(await devBearer('user-1')) },
      body: JSON.stringify({ query: '{ warehouses { code } }' }),
    });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('access-control-allow-origin')).toBe(APP);
    expect(ok.headers.get('access-control-expose-headers')).toBe('x-request-id');
    expect(await ok.json()).toEqual({ data: { warehouses: [{ code: 'AMS' }, { code: 'LIS' }] } });

    const anonymous = await fetch(gw.graphqlUrl, {
      method: 'POST',
      headers: { origin: APP, 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ warehouses { code } }' }),
    });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('access-control-allow-origin')).toBe(APP);
    expect(((await anonymous.json()) as { errors: { extensions: { code: string } }[] }).errors[0]?.extensions.code).toBe('UNAUTHENTICATED');
  });

  it('sends no CORS headers when no origin is configured (the default)', async () => {
    const plain = await startTestGateway({ supergraph: { path: writeTinySupergraph(subgraph.url), watch: false } });
    try {
      const result = await preflight(plain.graphqlUrl, APP, 'POST', 'content-type');
      expect(result.headers.get('access-control-allow-origin')).toBeNull();
      // No CORS plugin: OPTIONS is a method the GraphQL path does not serve (README "The HTTP edge").
      expect(result.status).toBe(405);
      expect(result.headers.get('allow')).toBe('GET, POST');
    } finally {
      await plain.close();
    }
  });
});
