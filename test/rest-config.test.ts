import { describe, expect, it } from 'vitest';
import { loadConfig } from '../gateway/src/config/index.js';
import { upstreamPath } from '../gateway/src/rest/path.js';

const load =
  (route: Record<string, unknown>, more: Record<string, unknown>[] = []) =>
  () =>
    loadConfig({ env: {}, overrides: { rest: { routes: [route, ...more] as never } } });

describe('rest config', () => {
  it('defaults a route to GET/HEAD, sign-in required, cost 1, one retry, no fallback', () => {
    const [route] = load({ prefix: '/legacy/users/', upstream: 'http://users:4001' })().rest.routes;
    expect(route).toEqual({
      prefix: '/legacy/users',
      upstream: 'http://users:4001',
      methods: ['GET', 'HEAD'],
      auth: { mode: 'required', scopes: [], forwardAuthorization: false },
      cost: 1,
      retries: { maxRetries: 1, baseDelayMs: 25, maxDelayMs: 250 },
      maxConcurrent: 100,
      fallback: { cache: false, public: false, ttlMs: 300_000, maxBodyBytes: 1_048_576, refreshAfterMs: 1_000 },
    });
  });

  it('loads the complete legacy API example of docs/rest-passthrough.md', () => {
    const config = loadConfig({ file: 'examples/legacy-api.yaml', env: {} });
    expect(config.rest.routes.map((route) => route.name)).toEqual(['users-v2', 'users-v1']);
    expect(config.rest.routes[0]?.cors?.origins).toEqual(['https://*.example.com']);
  });

  it('gives every route the gateway-wide deadlines unless it sets its own', () => {
    const config = loadConfig({
      env: {},
      overrides: {
        rest: { timeouts: { connectMs: 2_000 }, routes: [{ prefix: '/a', upstream: 'http://u', timeouts: { responseMs: 9_000 } }] },
      },
    });
    expect(config.rest.timeouts).toEqual({ connectMs: 2_000, firstByteMs: 30_000, responseMs: 300_000 });
    expect(config.rest.routes[0]?.timeouts).toEqual({ responseMs: 9_000 });
    expect(() =>
      loadConfig({ env: {}, overrides: { rest: { routes: [{ prefix: '/a', upstream: 'http://u', timeoutMs: 5 }] } } } as never),
    ).toThrow(/timeoutMs/);
  });

  it('refuses an upstream with a path, a non-HTTP upstream, dot segments or encodings in a prefix, duplicate prefixes and unknown keys', () => {
    expect(load({ prefix: '/a', upstream: 'http://users:4001/api' })).toThrow(/an origin only/);
    expect(load({ prefix: '/a', upstream: 'file:///etc/passwd' })).toThrow();
    expect(load({ prefix: '/a/../b', upstream: 'http://u' })).toThrow(/no `.` or `..` segments/);
    expect(load({ prefix: '/a%2fb', upstream: 'http://u' })).toThrow();
    expect(load({ prefix: 'a', upstream: 'http://u' })).toThrow();
    expect(load({ prefix: '/a', upstream: 'http://u', rewrite: '/x/..' })).toThrow();
    expect(load({ prefix: '/a', upstream: 'http://u' }, [{ prefix: '/a/', upstream: 'http://v' }])).toThrow(/duplicate prefix \/a/);
    expect(load({ prefix: '/a', upstream: 'http://u', methods: ['TRACE'] })).toThrow();
    expect(load({ prefix: '/a', upstream: 'http://u', retry: {} })).toThrow();
  });
});

describe('upstreamPath', () => {
  it('maps the prefix itself, paths below it, and keeps what passes still encoded', () => {
    expect(upstreamPath('/legacy/users', '/legacy/users', '/api/v1/users')).toEqual({ ok: true, path: '/api/v1/users' });
    expect(upstreamPath('/legacy/users/', '/legacy/users', '/api/v1/users')).toEqual({ ok: true, path: '/api/v1/users/' });
    expect(upstreamPath('/legacy/users/a%20b/c', '/legacy/users', '/api/v1/users')).toEqual({ ok: true, path: '/api/v1/users/a%20b/c' });
    expect(upstreamPath('/legacy/users/7', '/legacy/users', undefined)).toEqual({ ok: true, path: '/legacy/users/7' });
    expect(upstreamPath('/x/y', '/', '/api')).toEqual({ ok: true, path: '/api/x/y' });
    expect(upstreamPath('/x/y', '/', undefined)).toEqual({ ok: true, path: '/x/y' });
  });

  it('refuses what is outside the prefix or could become so', () => {
    for (const path of [
      '/legacy/usersX',
      '/legacy/users/..',
      '/legacy/users/%2E%2e',
      '/legacy/users/a%2Fb',
      '/legacy/users/a\\b',
      '/legacy/users/%5C',
      '/legacy/users/%252e',
      '/legacy/users//a',
      '/legacy/users/%2',
      '/legacy/users/a b',
      '/legacy/users/..%00',
    ]) {
      expect(upstreamPath(path, '/legacy/users', '/api'), path).toMatchObject({ ok: false });
    }
  });
});
