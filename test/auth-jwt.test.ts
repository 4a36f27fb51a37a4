import { exportSPKI, generateKeyPair, type CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IssuerConfig } from '../gateway/src/config/index.js';
import { ERRORS } from '../gateway/src/errors.js';
import { secretBytes, sign, signingKey, startJwksServer, unsignedToken, type JwksServer, type SigningKey } from './helpers/auth.js';
import { postGraphql, startTestGateway, type TestGateway } from './helpers/gateway.js';
import { startTinySubgraph, writeTinySupergraph, type TinySubgraph } from './helpers/tiny-subgraph.js';

const HS_SECRET = 'test-hs256-secret-that-is-long-enough-0123456789';
const HS = 'https://hs.issuer.test';
const RS = 'https://rs.issuer.test';
const ES = 'https://es.issuer.test';
const JWKS = 'https://jwks.issuer.test';
const AUDIENCE = 'gateway-tests';
const QUERY = { query: '{ warehouses { code } }' };

let subgraph: TinySubgraph;
let supergraphPath: string;
let jwks: JwksServer;
let jwksKey: SigningKey;
let rsKey: CryptoKey;
let rsPem: string;
let esKey: SigningKey;
let gw: TestGateway;
const tokens: string[] = [];

function issuers(jwksUrl: string, jwksOverrides: Partial<IssuerConfig['jwks']> = {}) {
  return [
    { issuer: HS, audience: AUDIENCE, algorithms: ['HS256' as const], secret: HS_SECRET },
    { issuer: RS, audience: AUDIENCE, algorithms: ['RS256' as const], publicKey: rsPem, claims: { tier: 'plan', scopes: ['permissions'] } },
    { issuer: ES, algorithms: ['ES256' as const], jwk: esKey.publicJwk as Record<string, unknown>, clockToleranceSec: 0 },
    {
      issuer: JWKS,
      audience: AUDIENCE,
      algorithms: ['RS256' as const],
      jwksUrl,
      jwks: { cooldownMs: 3_600_000, cacheMaxAgeMs: 3_600_000, refreshIntervalMs: 3_600_000, ...jwksOverrides },
    },
  ];
}

/** Signs, and remembers the token so the log can be searched for it afterwards. */
async function token(...args: Parameters<typeof sign>): Promise<string> {
  const value = await sign(...args);
  tokens.push(value);
  return value;
}

const bearer = (value: string) => ({ authorization: `Bearer ${value}` });

beforeAll(async () => {
  subgraph = await startTinySubgraph();
  supergraphPath = writeTinySupergraph(subgraph.url);
  const rs = await generateKeyPair('RS256', { extractable: true });
  rsKey = rs.privateKey;
  rsPem = await exportSPKI(rs.publicKey);
  esKey = await signingKey('es-1', 'ES256');
  jwksKey = await signingKey('jwks-1');
  jwks = await startJwksServer([jwksKey.publicJwk]);
  gw = await startTestGateway({ supergraph: { path: supergraphPath, watch: false }, auth: { jwt: { issuers: issuers(jwks.url) } } });
});

afterAll(async () => {
  await gw?.close();
  await jwks?.close();
  await subgraph?.close();
});

describe('valid tokens', () => {
  it('accepts an HS256 token and tells the subgraph who is calling', async () => {
    const jwt = await token(secretBytes(HS_SECRET), {
      issuer: HS,
      audience: AUDIENCE,
      subject: 'user-7',
      claims: { tier: 'pro', scope: 'read:email orders:write' },
    });
    const result = await postGraphql(gw.graphqlUrl, QUERY, { ...bearer(jwt), 'x-request-id': 'jwt-ok' });
    expect(result.status).toBe(200);
    expect(result.body.data).toEqual({ warehouses: [{ code: 'AMS' }, { code: 'LIS' }] });
    expect(subgraph.receivedHeaders.at(-1)).toMatchObject({
      'x-user-id': 'user-7',
      'x-user-tier': 'pro',
      'x-user-scopes': 'read:email orders:write',
      'x-auth-kind': 'user',
    });
    expect(subgraph.receivedHeaders.at(-1)?.authorization).toBeUndefined();
    expect(gw.logs.completed('jwt-ok')[0]).toMatchObject({ principal: `user:${HS}:user-7`, tier: 'pro' });
  });

  it('accepts an RS256 token verified with a PEM key, with a configured tier claim and scopes array', async () => {
    const jwt = await token(rsKey, {
      alg: 'RS256',
      issuer: RS,
      audience: AUDIENCE,
      claims: { plan: 'enterprise', permissions: ['a:b', 'c'] },
    });
    const result = await postGraphql(gw.graphqlUrl, QUERY, bearer(jwt));
    expect(result.status).toBe(200);
    expect(subgraph.receivedHeaders.at(-1)).toMatchObject({ 'x-user-tier': 'enterprise', 'x-user-scopes': 'a:b c' });
  });

  it('accepts an ES256 token verified with a JWK, without aud (none configured); the tier defaults to free', async () => {
    const jwt = await token(esKey.privateKey, { alg: 'ES256', issuer: ES, claims: { scp: ['x'] } });
    const result = await postGraphql(gw.graphqlUrl, QUERY, bearer(jwt));
    expect(result.status).toBe(200);
    expect(subgraph.receivedHeaders.at(-1)).toMatchObject({ 'x-user-tier': 'free', 'x-user-scopes': 'x' });
  });

  it('tolerates the configured clock skew on exp and nbf (30 s by default)', async () => {
    const expiredSlightly = await token(secretBytes(HS_SECRET), { issuer: HS, audience: AUDIENCE, expiresIn: -10 });
    expect((await postGraphql(gw.graphqlUrl, QUERY, bearer(expiredSlightly))).status).toBe(200);
    const earlySlightly = await token(secretBytes(HS_SECRET), { issuer: HS, audience: AUDIENCE, notBefore: 10 });
    expect((await postGraphql(gw.graphqlUrl, QUERY, bearer(earlySlightly))).status).toBe(200);
  });
});

describe('rejected tokens: 401 UNAUTHENTICATED with a WWW-Authenticate challenge', () => {
  const cases: { why: string; reason: string; make: () => Promise<string> | string }[] = [
    {
      why: 'alg none',
      reason: 'algorithm',
      make: () => unsignedToken({ iss: HS, aud: AUDIENCE, sub: 'admin', exp: Math.floor(Date.now() / 1000) + 300 }),
    },
    {
      why: 'HS/RS key confusion (HS256 signed with the RSA public key as the secret)',
      reason: 'algorithm',
      make: () => token(secretBytes(rsPem), { alg: 'HS256', issuer: RS, audience: AUDIENCE }),
    },
    {
      why: 'an algorithm outside the allow-list',
      reason: 'algorithm',
      make: () => token(secretBytes(HS_SECRET), { alg: 'HS512', issuer: HS, audience: AUDIENCE }),
    },
    {
      why: 'an unknown issuer',
      reason: 'unknown_issuer',
      make: () => token(secretBytes(HS_SECRET), { issuer: 'https://evil.test', audience: AUDIENCE }),
    },
    { why: 'no issuer', reason: 'unknown_issuer', make: () => token(secretBytes(HS_SECRET), { audience: AUDIENCE }) },
    { why: 'a wrong audience', reason: 'audience', make: () => token(secretBytes(HS_SECRET), { issuer: HS, audience: 'someone-else' }) },
    {
      why: 'an expired token (beyond the skew)',
      reason: 'expired',
      make: () => token(secretBytes(HS_SECRET), { issuer: HS, audience: AUDIENCE, expiresIn: -120 }),
    },
    {
      why: 'a token not valid yet (beyond the skew)',
      reason: 'not_yet_valid',
      make: () => token(secretBytes(HS_SECRET), { issuer: HS, audience: AUDIENCE, notBefore: 120 }),
    },
    {
      why: 'a token expired by 10 s where the issuer allows no clock skew',
      reason: 'expired',
      make: async () => token(esKey.privateKey, { alg: 'ES256', issuer: ES, expiresIn: -10 }),
    },
    {
      why: 'a token without exp',
      reason: 'claims',
      make: () => token(secretBytes(HS_SECRET), { issuer: HS, audience: AUDIENCE, expiresIn: null }),
    },
    {
      why: 'a bad signature (signed with another secret)',
      reason: 'signature',
      make: () => token(secretBytes('another-secret-that-is-also-long-enough-xyz'), { issuer: HS, audience: AUDIENCE }),
    },
    {
      why: 'a tampered payload',
      reason: 'signature',
      make: async () => {
        const [header, , signature] = (await token(secretBytes(HS_SECRET), { issuer: HS, audience: AUDIENCE })).split('.');
        const payload = Buffer.from(JSON.stringify({ iss: HS, aud: AUDIENCE, sub: 'admin', exp: 4_000_000_000 })).toString('base64url');
        return `${header}.${payload}.${signature}`;
      },
    },
    { why: 'a malformed token', reason: 'malformed', make: () => 'not.a.jwt' },
    { why: 'a token with a non-JSON header', reason: 'malformed', make: () => 'eyJub3QganNvbg.eyJ9.c2ln' },
    {
      why: 'a token over the size limit (8 KiB)',
      reason: 'too_large',
      make: () => token(secretBytes(HS_SECRET), { issuer: HS, audience: AUDIENCE, claims: { pad: 'x'.repeat(9_000) } }),
    },
    {
      why: 'a bad scope claim',
      reason: 'claims',
      make: () => token(secretBytes(HS_SECRET), { issuer: HS, audience: AUDIENCE, claims: { scope: 42 } }),
    },
    {
      why: 'a JWKS token signed by a key the set does not hold',
      reason: 'unknown_key',
      make: async () =>
        token((await signingKey('jwks-rogue')).privateKey, { alg: 'RS256', kid: 'jwks-rogue', issuer: JWKS, audience: AUDIENCE }),
    },
  ];

  it.each(cases)('refuses $why', async ({ reason, make }) => {
    const jwt = await make();
    tokens.push(jwt);
    const before = await authCount('jwt', reason);
    const result = await postGraphql(gw.graphqlUrl, QUERY, { ...bearer(jwt), 'x-request-id': `refused-${reason}` });
    expect(result.status).toBe(401);
    expect(result.body).toEqual({ errors: [{ message: expect.any(String), extensions: { code: 'UNAUTHENTICATED' } }] });
    expect(result.headers.get('www-authenticate')).toMatch(/^Bearer realm="gateway", error="invalid_token", error_description="[^"]+"$/);
    expect(await authCount('jwt', reason)).toBe(before + 1);
    expect(JSON.stringify(result.body)).not.toContain(jwt);
  });

  it('refuses a non-Bearer Authorization header as invalid_request', async () => {
    const result = await postGraphql(gw.graphqlUrl, QUERY, { authorization: 'Basic dXNlcjpwYXNz' });
    expect(result.status).toBe(401);
    expect(result.headers.get('www-authenticate')).toContain('error="invalid_request"');
  });

  it('lets anonymous callers through when auth is not required, and tells the subgraph only the tier (spoofed headers dropped)', async () => {
    const spoofed = { 'x-user-id': 'admin', 'x-user-scopes': 'admin', 'x-user-tier': 'enterprise', 'x-auth-kind': 'user' };
    const result = await postGraphql(gw.graphqlUrl, QUERY, { 'x-request-id': 'anon-1', ...spoofed });
    expect(result.status).toBe(200);
    const headers = subgraph.receivedHeaders.at(-1);
    expect(headers).toMatchObject({ 'x-user-tier': 'anonymous', 'x-auth-kind': 'anonymous' });
    expect(headers?.['x-user-id']).toBeUndefined();
    expect(headers?.['x-user-scopes']).toBeUndefined();
    expect(gw.logs.completed('anon-1')[0]).toMatchObject({ principal: 'ip:127.0.0.1', tier: 'anonymous' });
  });

  it('never writes a token to the log', () => {
    expect(tokens.length).toBeGreaterThan(10);
    for (const value of tokens) {
      expect(gw.logs.raw).not.toContain(value);
      const signature = value.split('.')[2] ?? '';
      if (signature.length > 20) expect(gw.logs.raw).not.toContain(signature);
    }
    expect(gw.logs.raw).not.toContain(HS_SECRET);
  });
});

async function authCount(method: string, result: string): Promise<number> {
  const metric = await gw.gateway.metrics.authAttempts.get();
  return metric.values.find((v) => v.labels.method === method && v.labels.result === result)?.value ?? 0;
}

describe('JWKS', () => {
  it('fetches the key set once and serves later tokens from the cache', async () => {
    const before = jwks.hits;
    for (const subject of ['a', 'b', 'c']) {
      const jwt = await token(jwksKey.privateKey, { alg: 'RS256', kid: 'jwks-1', issuer: JWKS, audience: AUDIENCE, subject });
      expect((await postGraphql(gw.graphqlUrl, QUERY, bearer(jwt))).status).toBe(200);
    }
    expect(jwks.hits - before).toBeLessThanOrEqual(1);
    expect(jwks.hits).toBe(1);
  });

  it('does not let a flood of unknown kids hammer the key server (one refetch per cooldown)', async () => {
    const rogue = await signingKey('rogue');
    const before = jwks.hits;
    const results = await Promise.all(
      Array.from({ length: 20 }, async (_, i) =>
        postGraphql(
          gw.graphqlUrl,
          QUERY,
          bearer(await token(rogue.privateKey, { alg: 'RS256', kid: `random-${i}`, issuer: JWKS, audience: AUDIENCE })),
        ),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(401));
    expect(jwks.hits).toBe(before);
  });

  /** A gateway of its own on a JWKS server of its own, both closed afterwards. */
  async function withJwksGateway(
    jwksOptions: Partial<IssuerConfig['jwks']>,
    run: (gateway: TestGateway, server: JwksServer) => Promise<void>,
    cacheMaxAgeSec?: number,
  ) {
    const server = await startJwksServer([jwksKey.publicJwk]);
    const gateway = await startTestGateway({
      supergraph: { path: supergraphPath, watch: false },
      auth: { jwt: { issuers: issuers(server.url, jwksOptions), ...(cacheMaxAgeSec === undefined ? {} : { cacheMaxAgeSec }) } },
    });
    try {
      await run(gateway, server);
    } finally {
      await gateway.close();
      await server.close();
    }
  }

  it('picks up a rotated key without a restart (refetch on an unknown kid), and drops the retired one', async () => {
    await withJwksGateway(
      { cooldownMs: 0 },
      async (rotating, server) => {
        const old = await token(jwksKey.privateKey, { alg: 'RS256', kid: 'jwks-1', issuer: JWKS, audience: AUDIENCE });
        expect((await postGraphql(rotating.graphqlUrl, QUERY, bearer(old))).status).toBe(200);
        expect(server.hits).toBe(1);

        const next = await signingKey('jwks-2');
        server.keys = [next.publicJwk];
        const fresh = await token(next.privateKey, { alg: 'RS256', kid: 'jwks-2', issuer: JWKS, audience: AUDIENCE });
        expect((await postGraphql(rotating.graphqlUrl, QUERY, bearer(fresh))).status).toBe(200);
        expect(server.hits).toBe(2);

        // A verified token is trusted for auth.jwt.cacheMaxAgeSec (1 s here) without another check...
        expect((await postGraphql(rotating.graphqlUrl, QUERY, bearer(old))).status).toBe(200);
        expect(server.hits).toBe(2);
        // ...after which the retired key is looked up again, and refused.
        await new Promise((resolve) => setTimeout(resolve, 1_100));
        const retired = await postGraphql(rotating.graphqlUrl, QUERY, bearer(old));
        expect(retired.status).toBe(401);
        expect(server.hits).toBe(3);
      },
      1,
    );
  });

  it('refreshes the key set in the background, so a rotated key works even while refetches are cooling down', async () => {
    await withJwksGateway({ refreshIntervalMs: 50 }, async (refreshing, server) => {
      const first = await token(jwksKey.privateKey, { alg: 'RS256', kid: 'jwks-1', issuer: JWKS, audience: AUDIENCE });
      expect((await postGraphql(refreshing.graphqlUrl, QUERY, bearer(first))).status).toBe(200);
      const next = await signingKey('jwks-bg');
      server.keys = [jwksKey.publicJwk, next.publicJwk];
      const seen = server.hits;
      while (server.hits < seen + 1) await new Promise((resolve) => setTimeout(resolve, 20));
      // The cooldown (an hour) forbids an on-demand refetch: only the background refresh can have brought jwks-bg.
      const jwt = await token(next.privateKey, { alg: 'RS256', kid: 'jwks-bg', issuer: JWKS, audience: AUDIENCE });
      expect((await postGraphql(refreshing.graphqlUrl, QUERY, bearer(jwt))).status).toBe(200);
    });
  });

  it('keeps verifying with the last good keys while the key server is down past the cache age', async () => {
    await withJwksGateway({ cacheMaxAgeMs: 100, cooldownMs: 0 }, async (outage, server) => {
      const as = (subject: string, kid = 'jwks-1') =>
        token(jwksKey.privateKey, { alg: 'RS256', kid, issuer: JWKS, audience: AUDIENCE, subject });
      expect((await postGraphql(outage.graphqlUrl, QUERY, bearer(await as('before')))).status).toBe(200);
      server.failing = true;
      await new Promise((resolve) => setTimeout(resolve, 200));
      // A token not seen before (no verified-token cache): its key is the cached one, refetching fails.
      const during = await postGraphql(outage.graphqlUrl, QUERY, bearer(await as('during')));
      expect(during.status).toBe(200);
      expect(server.hits).toBeGreaterThan(1);
      // A kid the last good keys do not hold cannot be checked: unavailable, not refused.
      const unknown = await postGraphql(outage.graphqlUrl, QUERY, bearer(await as('new-kid', 'jwks-9')));
      expect(unknown.status).toBe(503);
      expect(
        outage.logs.find((line) => line.msg === 'JWKS fetch failed past its cache age; verifying with the last good keys'),
      ).toHaveLength(1);
    });
  });

  it('never brings back a key the key server dropped between two outages', async () => {
    await withJwksGateway({ cacheMaxAgeMs: 100, cooldownMs: 0 }, async (outage, server) => {
      const leaked = (subject: string) =>
        token(jwksKey.privateKey, { alg: 'RS256', kid: 'jwks-1', issuer: JWKS, audience: AUDIENCE, subject });
      const stale = () => new Promise((resolve) => setTimeout(resolve, 200));
      expect((await postGraphql(outage.graphqlUrl, QUERY, bearer(await leaked('a')))).status).toBe(200);
      server.failing = true;
      await stale();
      expect((await postGraphql(outage.graphqlUrl, QUERY, bearer(await leaked('b')))).status).toBe(200);
      // Back, with the leaked key removed: it is refused.
      server.failing = false;
      server.keys = [(await signingKey('jwks-2')).publicJwk];
      await stale();
      expect((await postGraphql(outage.graphqlUrl, QUERY, bearer(await leaked('c')))).status).toBe(401);
      // Down again: the last good keys are the ones without it.
      server.failing = true;
      await stale();
      expect((await postGraphql(outage.graphqlUrl, QUERY, bearer(await leaked('d')))).status).toBe(503);
    });
  });

  it('during an outage, asks the key server again only after the cooldown', async () => {
    await withJwksGateway({ cacheMaxAgeMs: 100, cooldownMs: 60_000 }, async (outage, server) => {
      const as = (subject: string) => token(jwksKey.privateKey, { alg: 'RS256', kid: 'jwks-1', issuer: JWKS, audience: AUDIENCE, subject });
      expect((await postGraphql(outage.graphqlUrl, QUERY, bearer(await as('first')))).status).toBe(200);
      server.failing = true;
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect((await postGraphql(outage.graphqlUrl, QUERY, bearer(await as('second')))).status).toBe(200);
      const failedFetches = server.hits;
      for (const subject of ['third', 'fourth', 'fifth']) {
        expect((await postGraphql(outage.graphqlUrl, QUERY, bearer(await as(subject)))).status).toBe(200);
      }
      expect(server.hits).toBe(failedFetches);
    });
  });

  it('answers 503 AUTH_UNAVAILABLE (not 401) when the key server cannot be reached', async () => {
    const server = await startJwksServer([jwksKey.publicJwk]);
    const url = server.url;
    await server.close();
    const orphan = await startTestGateway({
      supergraph: { path: supergraphPath, watch: false },
      auth: { jwt: { issuers: issuers(url, { timeoutMs: 2_000 }) } },
    });
    try {
      const jwt = await token(jwksKey.privateKey, { alg: 'RS256', kid: 'jwks-1', issuer: JWKS, audience: AUDIENCE });
      const result = await postGraphql(orphan.graphqlUrl, QUERY, bearer(jwt));
      expect(result.status).toBe(503);
      expect(result.body.errors?.[0]?.extensions?.code).toBe('AUTH_UNAVAILABLE');
      expect(result.headers.get('retry-after')).toBe('1');
    } finally {
      await orphan.close();
    }
  });
});

describe('auth.required', () => {
  it('refuses a request without a credential with 401 and a bare challenge', async () => {
    const strict = await startTestGateway({
      supergraph: { path: supergraphPath, watch: false },
      auth: { required: true, jwt: { issuers: issuers(jwks.url) } },
    });
    try {
      const result = await postGraphql(strict.graphqlUrl, QUERY);
      expect(result.status).toBe(401);
      expect(result.body.errors?.[0]).toEqual({ message: expect.any(String), extensions: { code: 'UNAUTHENTICATED' } });
      expect(result.headers.get('www-authenticate')).toBe('Bearer realm="gateway"');
      const jwt = await token(secretBytes(HS_SECRET), { issuer: HS, audience: AUDIENCE });
      expect((await postGraphql(strict.graphqlUrl, QUERY, bearer(jwt))).status).toBe(200);
      // Probes stay open to the orchestrator.
      expect((await fetch(`${strict.url}/health`)).status).toBe(200);
    } finally {
      await strict.close();
    }
  });

  it('has a registered code for every status it answers', () => {
    expect(ERRORS.UNAUTHENTICATED.status).toBe(401);
    expect(ERRORS.AUTH_UNAVAILABLE.status).toBe(503);
  });
});
