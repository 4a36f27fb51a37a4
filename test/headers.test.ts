import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEV_ISSUER, DEV_JWT_ISSUER, DEV_JWT_AUDIENCE, DEV_JWT_SECRET } from '../gateway/src/auth/dev-secret.js';
import { loadConfig, type GatewayConfigInput } from '../gateway/src/config/index.js';
import { gatewayHeaderNames, subgraphRequestGuard } from '../gateway/src/headers/guards.js';
import { compileHeaderRules } from '../gateway/src/headers/rules.js';
import { secretBytes, sign } from './helpers/auth.js';
import { startEchoSubgraph, writeEchoSupergraph, type EchoSubgraph } from './helpers/echo-subgraph.js';
import { postGraphql, startTestGateway, type TestGateway } from './helpers/gateway.js';
import { startRestUpstream, type RestUpstream } from './helpers/rest-upstream.js';

const token = (claims: Record<string, unknown>) =>
  sign(secretBytes(DEV_JWT_SECRET), { issuer: DEV_JWT_ISSUER, audience: DEV_JWT_AUDIENCE, subject: 'alice', claims });

type Echoed = Record<string, string | undefined>;

/** Both subgraphs' echoed request headers for one client request. */
async function echoed(gw: TestGateway, headers: Record<string, string>) {
  const result = await postGraphql(gw.graphqlUrl, { query: '{ alphaHeaders betaHeaders }' }, headers);
  expect(result.body.errors).toBeUndefined();
  const data = result.body.data as { alphaHeaders: string; betaHeaders: string };
  return { result, alpha: JSON.parse(data.alphaHeaders) as Echoed, beta: JSON.parse(data.betaHeaders) as Echoed };
}

describe('header rules for subgraph calls', () => {
  let alpha: EchoSubgraph;
  let beta: EchoSubgraph;
  let gw: TestGateway;

  beforeAll(async () => {
    [alpha, beta] = await Promise.all([startEchoSubgraph('alpha'), startEchoSubgraph('beta')]);
    gw = await startTestGateway({
      supergraph: { path: writeEchoSupergraph([alpha, beta]), watch: false },
      auth: { jwt: { issuers: [DEV_ISSUER] } },
      headers: {
        all: {
          request: [
            { propagate: { named: 'accept-language' } },
            { propagate: { named: 'x-tenant', rename: 'x-org', default: 'no-org' } },
            { propagate: { matching: '^x-flag-' } },
            { insert: { name: 'x-gateway', value: 'gw-1' } },
            { insert: { name: 'x-tenant-claim', from_claim: 'tenant', default: 'none' } },
            { insert: { name: 'x-tier', from_principal: 'tier' } },
            { insert: { name: 'x-scopes', from_principal: 'scopes' } },
            { remove: { named: 'x-flag-secret' } },
          ],
          response: [{ propagate: { named: 'set-cookie' } }, { propagate: { matching: '^x-served-' } }],
        },
        subgraphs: {
          // Runs after `all`: may undo it (order), and alone forwards Authorization.
          alpha: {
            request: [
              { propagate: { named: 'authorization' } },
              { remove: { matching: '^x-gateway$' } },
              { insert: { name: 'x-only', value: 'alpha' } },
            ],
          },
          // Everything the client sent that a rule may copy: never identity, Authorization or hop-by-hop headers.
          beta: { request: [{ propagate: { matching: '.*' } }] },
        },
      },
    });
  });

  afterAll(async () => {
    await gw?.close();
    await Promise.all([alpha?.close(), beta?.close()]);
  });

  it('propagates named (renamed, with a default) and matching headers, inserts static, claim, tier and scopes values, removes by name and regex, in order, `all` then per subgraph', async () => {
    const bearer = `Bearer ${await token({ tenant: 'acme', tier: 'gold', scope: 'read write' })}`;
    const { alpha: a, beta: b } = await echoed(gw, {
      authorization: bearer,
      'accept-language': 'pt-PT',
      'x-tenant': 'acme-eu',
      'x-flag-dark': 'on',
      'x-flag-secret': 'hidden',
      'x-other': 'kept-by-beta-only',
    });
    expect(a['accept-language']).toBe('pt-PT');
    expect(a['x-org']).toBe('acme-eu');
    expect(a['x-tenant']).toBeUndefined();
    expect(a['x-flag-dark']).toBe('on');
    expect(a['x-flag-secret']).toBeUndefined();
    expect(a['x-tenant-claim']).toBe('acme');
    expect(a['x-tier']).toBe('gold');
    expect(a['x-scopes']).toBe('read write');
    expect(a['x-gateway']).toBeUndefined(); // alpha's own rule removed it after `all` inserted it
    expect(a['x-only']).toBe('alpha');
    expect(a['x-other']).toBeUndefined();
    expect(b['x-gateway']).toBe('gw-1');
    expect(b['x-only']).toBeUndefined();
    expect(b['x-other']).toBe('kept-by-beta-only');
    expect(b['x-flag-secret']).toBe('hidden'); // beta's rule runs after `all`'s remove and copies it again
  });

  it('sends the default of a missing named header, and the insert default without a claim', async () => {
    const { alpha: a } = await echoed(gw, {});
    expect(a['x-org']).toBe('no-org');
    expect(a['x-tenant-claim']).toBe('none');
    expect(a['x-tier']).toBe('anonymous');
    expect(a['x-scopes']).toBeUndefined();
  });

  it('never forwards a client identity header or request id, whatever the rules match, and forwards Authorization only where a rule names it', async () => {
    const bearer = `Bearer ${await token({})}`;
    const {
      result,
      alpha: a,
      beta: b,
    } = await echoed(gw, {
      authorization: bearer,
      'x-user-id': 'mallory',
      'x-user-tier': 'enterprise',
      'x-user-scopes': 'admin',
      'x-auth-kind': 'api_key',
      connection: 'keep-alive, x-hop',
      'x-hop': 'hop',
      cookie: 'session=secret',
    });
    for (const echo of [a, b]) {
      expect(echo['x-user-id']).toBe('alice');
      expect(echo['x-user-tier']).not.toBe('enterprise');
      expect(echo['x-user-scopes']).toBe('');
      expect(echo['x-auth-kind']).toBe('user');
      expect(echo['x-request-id']).toBe(result.headers.get('x-request-id'));
    }
    expect(a.authorization).toBe(bearer);
    expect(b.authorization).toBeUndefined();
    expect(b.cookie).toBeUndefined();
    expect(b.connection).not.toContain('x-hop');
  });

  it('never copies a header the Connection header lists, even under `matching: ".*"`', async () => {
    // fetch() will not send a Connection header of the caller's choosing: node:http does.
    const { request: httpRequest } = await import('node:http');
    const body = JSON.stringify({ query: '{ betaHeaders }' });
    const answer = await new Promise<string>((resolve, reject) => {
      const req = httpRequest(gw.graphqlUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', connection: 'keep-alive, x-hop', 'x-hop': 'hop', 'x-kept': 'kept' },
      });
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      });
      req.on('error', reject);
      req.end(body);
    });
    const echo = JSON.parse((JSON.parse(answer) as { data: { betaHeaders: string } }).data.betaHeaders) as Echoed;
    expect(echo['x-kept']).toBe('kept');
    expect(echo['x-hop']).toBeUndefined();
  });

  it('copies allow-listed headers of every subgraph answer to the client, each Set-Cookie as its own line', async () => {
    alpha.responseHeaders = { 'set-cookie': ['a=1; Path=/', 'a2=2; Path=/'], 'x-served-by': 'alpha', 'x-private': 'no' };
    beta.responseHeaders = { 'set-cookie': 'b=1; Path=/; HttpOnly', 'x-served-by': 'beta' };
    try {
      const { result } = await echoed(gw, {});
      expect(result.headers.getSetCookie().sort()).toEqual(['a2=2; Path=/', 'a=1; Path=/', 'b=1; Path=/; HttpOnly']);
      expect(result.headers.get('x-served-by')?.split(', ').sort()).toEqual(['alpha', 'beta']);
      expect(result.headers.get('x-private')).toBeNull();
    } finally {
      alpha.responseHeaders = {};
      beta.responseHeaders = {};
    }
  });
});

describe('header rule config', () => {
  const load = (overrides: GatewayConfigInput) => () => loadConfig({ env: {}, overrides });

  it.each([
    [{ all: { request: [{ propagate: { named: 'x-user-id' } }] } }, 'headers.all.request.0.propagate.named'],
    [{ all: { request: [{ propagate: { named: 'x-foo', rename: 'X-User-Tier' } }] } }, 'headers.all.request.0.propagate.rename'],
    [{ subgraphs: { a: { request: [{ insert: { name: 'x-request-id', value: 'x' } }] } } }, 'headers.subgraphs.a.request.0.insert.name'],
    [{ all: { request: [{ remove: { named: 'x-auth-kind' } }] } }, 'headers.all.request.0.remove.named'],
    [{ all: { request: [{ propagate: { named: 'transfer-encoding' } }] } }, 'headers.all.request.0.propagate.named'],
    [{ all: { response: [{ propagate: { named: 'cache-control' } }] } }, 'headers.all.response.0.propagate.named'],
    [{ all: { request: [{ propagate: { matching: '(unclosed' } }] } }, 'headers.all.request.0.propagate.matching'],
    [{ all: { request: [{ propagate: { named: 'bad name' } }] } }, 'headers.all.request.0.propagate.named'],
    [{ all: { request: [{ insert: { name: 'x-a' } }] } }, 'headers.all.request.0.insert'],
    [{ all: { request: [{ propagate: { named: 'x-a' }, remove: { named: 'x-b' } }] } }, 'headers.all.request.0'],
  ])('refuses %j naming the key', (headers, key) => {
    expect(load({ headers } as GatewayConfigInput)).toThrow(key);
  });

  it('refuses a REST route rule that sets an identity header, naming the key', () => {
    const rest = {
      routes: [
        { prefix: '/legacy', upstream: 'http://127.0.0.1:1', headerRules: { request: [{ insert: { name: 'x-user-id', value: 'x' } }] } },
      ],
    };
    expect(load({ rest })).toThrow('rest.routes.0.headerRules.request.0.insert.name');
  });

  it('follows a renamed identity header (auth.propagation)', () => {
    const overrides = {
      auth: { propagation: { idHeader: 'x-principal' } },
      headers: { all: { request: [{ propagate: { named: 'x-principal' } }] } },
    };
    expect(load(overrides)).toThrow('headers.all.request.0.propagate.named');
  });
});

describe('dedupe and fallback copies key on the forwarded headers', () => {
  let alpha: EchoSubgraph;
  let beta: EchoSubgraph;
  let gw: TestGateway;

  beforeAll(async () => {
    [alpha, beta] = await Promise.all([startEchoSubgraph('alpha'), startEchoSubgraph('beta')]);
    gw = await startTestGateway({
      supergraph: { path: writeEchoSupergraph([alpha, beta]), watch: false },
      resilience: { subgraphDefaults: { fallback: { refreshAfterMs: 0 }, retry: { maxRetries: 0 } } },
      headers: { all: { request: [{ propagate: { named: 'x-tenant' } }], response: [{ propagate: { named: 'set-cookie' } }] } },
    });
  });

  afterAll(async () => {
    await gw?.close();
    await Promise.all([alpha?.close(), beta?.close()]);
  });

  const ask = (tenant: string) => postGraphql(gw.graphqlUrl, { query: '{ alphaHeaders }' }, { 'x-tenant': tenant });

  it('shares one in-flight call between callers forwarding the same values only', async () => {
    alpha.delayMs = 300;
    try {
      let before = alpha.received.length;
      const same = await Promise.all([ask('t1'), ask('t1')]);
      expect(alpha.received.length - before).toBe(1);
      expect(same.map((r) => JSON.parse((r.body.data as { alphaHeaders: string }).alphaHeaders)['x-tenant'])).toEqual(['t1', 't1']);
      before = alpha.received.length;
      const different = await Promise.all([ask('t1'), ask('t2')]);
      expect(alpha.received.length - before).toBe(2);
      expect(different.map((r) => JSON.parse((r.body.data as { alphaHeaders: string }).alphaHeaders)['x-tenant'])).toEqual(['t1', 't2']);
    } finally {
      alpha.delayMs = 0;
    }
  });

  it("gives a caller that joined another's call in flight that call's data but never its Set-Cookie", async () => {
    alpha.delayMs = 300;
    alpha.responseHeaders = { 'set-cookie': 'session=for-the-first-caller' };
    try {
      const before = alpha.received.length;
      const answers = await Promise.all([ask('t3'), ask('t3')]);
      expect(alpha.received.length - before).toBe(1);
      expect(answers.map((answer) => answer.headers.getSetCookie().length).sort()).toEqual([0, 1]);
    } finally {
      alpha.delayMs = 0;
      alpha.responseHeaders = {};
    }
  });

  it("never serves one forwarded value's kept copy to a caller forwarding another", async () => {
    expect((await ask('keep-1')).body.errors).toBeUndefined();
    alpha.failWith = 500;
    try {
      const other = await ask('keep-2');
      expect(other.body.data).toBeNull();
      expect(other.body.errors?.[0]?.extensions?.code).toBe('SUBGRAPH_UNAVAILABLE');
      const same = await ask('keep-1');
      expect(JSON.parse((same.body.data as { alphaHeaders: string }).alphaHeaders)['x-tenant']).toBe('keep-1');
      expect(same.body.extensions).toMatchObject({ fallbacks: [{ subgraph: 'alpha', source: 'cache' }] });
    } finally {
      alpha.failWith = undefined;
    }
  });
});

describe('header rules for REST routes', () => {
  let upstream: RestUpstream;
  let beta: EchoSubgraph;
  let gw: TestGateway;

  beforeAll(async () => {
    upstream = await startRestUpstream();
    beta = await startEchoSubgraph('beta');
    gw = await startTestGateway({
      supergraph: { path: writeEchoSupergraph([beta]), watch: false },
      auth: { jwt: { issuers: [DEV_ISSUER] } },
      rest: {
        routes: [
          {
            prefix: '/legacy',
            upstream: upstream.origin,
            auth: { mode: 'optional' },
            headerRules: {
              request: [
                { propagate: { named: 'x-tenant', rename: 'x-org' } },
                { remove: { named: 'x-tenant' } },
                { remove: { matching: '^x-debug' } },
                { insert: { name: 'x-tenant-claim', from_claim: 'tenant' } },
                { propagate: { named: 'authorization' } },
              ],
              response: [{ remove: { named: 'x-upstream-hop' } }, { insert: { name: 'x-route', value: 'legacy' } }],
            },
          },
          { prefix: '/plain', upstream: upstream.origin, auth: { mode: 'optional' } },
        ],
      },
    });
  });

  afterAll(async () => {
    await gw?.close();
    await beta?.close();
    await upstream?.close();
  });

  it('applies request and response rules, and keeps identity headers and the request id the gateway’s', async () => {
    const bearer = `Bearer ${await token({ tenant: 'acme' })}`;
    const response = await fetch(`${gw.url}/legacy/echo`, {
      headers: { authorization: bearer, 'x-tenant': 'acme-eu', 'x-debug-trace': '1', 'x-user-id': 'mallory', 'x-kept': 'yes' },
    });
    expect(response.status).toBe(200);
    const { headers } = (await response.json()) as { headers: Echoed };
    expect(headers['x-org']).toBe('acme-eu');
    expect(headers['x-tenant']).toBeUndefined();
    expect(headers['x-debug-trace']).toBeUndefined();
    expect(headers['x-kept']).toBe('yes');
    expect(headers['x-tenant-claim']).toBe('acme');
    expect(headers.authorization).toBe(bearer);
    expect(headers['x-user-id']).toBe('alice');
    expect(headers['x-request-id']).toBe(response.headers.get('x-request-id'));
    expect(response.headers.get('x-upstream-hop')).toBeNull();
    expect(response.headers.get('x-route')).toBe('legacy');
  });

  it('leaves a route without rules as it was: Authorization not forwarded, the upstream headers passed on', async () => {
    const response = await fetch(`${gw.url}/plain/echo`, { headers: { authorization: `Bearer ${await token({})}` } });
    const { headers } = (await response.json()) as { headers: Echoed };
    expect(headers.authorization).toBeUndefined();
    expect(response.headers.get('x-upstream-hop')).toBe('yes');
    expect(response.headers.get('x-route')).toBeNull();
  });
});

describe('header rules with the resilience layer off (plain subgraph calls)', () => {
  let alpha: EchoSubgraph;
  let gw: TestGateway;

  beforeAll(async () => {
    alpha = await startEchoSubgraph('alpha');
    gw = await startTestGateway({
      supergraph: { path: writeEchoSupergraph([alpha]), watch: false },
      resilience: { enabled: false },
      headers: {
        subgraphs: { alpha: { request: [{ propagate: { named: 'x-tenant' } }], response: [{ propagate: { named: 'set-cookie' } }] } },
      },
    });
  });

  afterAll(async () => {
    await gw?.close();
    await alpha?.close();
  });

  it('forwards by the rules and copies the allow-listed answer headers', async () => {
    alpha.responseHeaders = { 'set-cookie': ['a=1', 'b=2'] };
    const result = await postGraphql(gw.graphqlUrl, { query: '{ alphaHeaders }' }, { 'x-tenant': 'acme' });
    expect(JSON.parse((result.body.data as { alphaHeaders: string }).alphaHeaders)['x-tenant']).toBe('acme');
    expect(result.headers.getSetCookie()).toEqual(['a=1', 'b=2']);
  });
});

describe('what no header rule carries', () => {
  it('never copies Expect, headers the Connection header lists, or values a request line cannot hold', () => {
    const config = loadConfig({ env: {}, overrides: {} });
    const rules = compileHeaderRules(
      [
        { propagate: { named: 'x-defaulted', default: 'none' } },
        { propagate: { matching: '.*' } },
        { propagate: { named: 'x-listed' } },
        { propagate: { named: 'x-tenant' } },
      ],
      subgraphRequestGuard(gatewayHeaderNames(config)),
    );
    const input = new Map<string, string | readonly string[]>([
      ['connection', 'keep-alive, X-Listed, x-defaulted'],
      ['x-defaulted', 'listed, so absent: the default applies'],
      ['x-listed', 'for this hop'],
      ['expect', '100-continue'],
      // As a subscription's connectionParams may carry them (HTTP parsers refuse these).
      ['x-tenant', 'a\r\nx-injected: 1'],
      ['x-euro', '€'],
      ['x-mixed', ['kept', 'bad\u0000']],
      ['x-fine', 'café'],
    ]);
    expect(Object.fromEntries(rules.apply(input))).toEqual({ 'x-defaulted': ['none'], 'x-mixed': ['kept'], 'x-fine': ['café'] });
  });
});

describe("subgraph answer headers never replace the gateway's own", () => {
  let alpha: EchoSubgraph;
  let gw: TestGateway;
  const APP = 'https://app.example';

  beforeAll(async () => {
    alpha = await startEchoSubgraph('alpha');
    gw = await startTestGateway({
      supergraph: { path: writeEchoSupergraph([alpha]), watch: false },
      server: { cors: { origins: [APP] } },
      headers: { all: { response: [{ propagate: { matching: '.*' } }] } },
    });
  });

  afterAll(async () => {
    await gw?.close();
    await alpha?.close();
  });

  it("keeps the gateway's CORS answer and Date, adds to its Vary, and passes the subgraph's other headers", async () => {
    alpha.responseHeaders = {
      'access-control-allow-origin': '*',
      'access-control-allow-credentials': 'true',
      vary: 'X-Subgraph, origin',
      date: 'Mon, 01 Jan 2001 00:00:00 GMT',
      'x-served-by': 'alpha',
    };
    const result = await postGraphql(gw.graphqlUrl, { query: '{ alphaHeaders }' }, { origin: APP });
    expect(result.body.errors).toBeUndefined();
    expect(result.headers.get('access-control-allow-origin')).toBe(APP);
    expect(result.headers.get('vary')).toBe('Origin, X-Subgraph');
    expect(result.headers.get('date')).not.toContain('2001');
    expect(result.headers.get('x-served-by')).toBe('alpha');
    // An origin the policy refuses gets no CORS answer at all, whatever the subgraph said.
    const refused = await postGraphql(gw.graphqlUrl, { query: '{ alphaHeaders }' }, { origin: 'https://evil.example' });
    expect(refused.headers.get('access-control-allow-origin')).toBeNull();
    expect(refused.headers.get('access-control-allow-credentials')).toBeNull();
  });
});
