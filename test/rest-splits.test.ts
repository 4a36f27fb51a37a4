import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEV_ISSUER } from '../gateway/src/auth/dev-secret.js';
import { loadConfig } from '../gateway/src/config/index.js';
import { hashPoint } from '../gateway/src/rest/split.js';
import { bearer } from './helpers/cost-stack.js';
import { startTestGateway, type TestGateway } from './helpers/gateway.js';
import { rawRequest, startRestUpstream, type RestUpstream } from './helpers/rest-upstream.js';
import { DEMO_SUPERGRAPH } from './helpers/subgraphs.js';

let stable: RestUpstream;
let canary: RestUpstream;
let gw: TestGateway;
const open = { auth: { mode: 'optional' as const }, cost: 0 };

beforeAll(async () => {
  [stable, canary] = await Promise.all([startRestUpstream(), startRestUpstream()]);
  gw = await startTestGateway({
    supergraph: { path: DEMO_SUPERGRAPH, watch: false },
    auth: { jwt: { issuers: [DEV_ISSUER] } },
    rest: {
      routes: [
        {
          ...open,
          prefix: '/by-header',
          upstream: stable.origin,
          split: { upstream: canary.origin, headers: [{ name: 'X-Canary', equals: '1' }] },
        },
        {
          ...open,
          prefix: '/by-cookie',
          upstream: stable.origin,
          split: { upstream: canary.origin, cookies: [{ name: 'beta', equals: 'yes' }] },
        },
        {
          ...open,
          prefix: '/weighted',
          upstream: stable.origin,
          split: { upstream: canary.origin, weight: 20, sticky: { by: 'header', name: 'x-session' } },
        },
        { ...open, prefix: '/random', upstream: stable.origin, split: { upstream: canary.origin, weight: 25 } },
        {
          ...open,
          prefix: '/per-user',
          upstream: stable.origin,
          split: { upstream: canary.origin, weight: 50, sticky: { by: 'principal' } },
        },
      ],
    },
  });
});
afterAll(async () => {
  await gw?.close();
  await stable?.close();
  await canary?.close();
});

/** Which upstream served one request: the echo's `Host` is the upstream's own. */
async function sideOf(target: string, headers: Record<string, string> = {}): Promise<'stable' | 'canary'> {
  const response = await rawRequest(gw.url, target, { headers });
  expect(response.status).toBe(200);
  const host = (JSON.parse(response.body) as { headers: { host: string } }).headers.host;
  expect([new URL(stable.origin).host, new URL(canary.origin).host]).toContain(host);
  return host === new URL(canary.origin).host ? 'canary' : 'stable';
}

describe('REST traffic splits', () => {
  it('sends every request matching the header predicate to the canary, the others to the stable upstream, path and query kept', async () => {
    expect(await sideOf('/by-header/a?x=1', { 'x-canary': '1', 'x-request-id': 'split-1' })).toBe('canary');
    expect(canary.hits.at(-1)?.url).toBe('/by-header/a?x=1');
    expect(gw.logs.completed('split-1')[0]).toMatchObject({ split: true });
    expect(await sideOf('/by-header/a', { 'x-canary': '0' })).toBe('stable');
    expect(await sideOf('/by-header/a')).toBe('stable');
  });

  it('sends requests with a matching cookie to the canary', async () => {
    expect(await sideOf('/by-cookie/a', { cookie: 'theme=dark; beta=yes' })).toBe('canary');
    expect(await sideOf('/by-cookie/a', { cookie: 'beta=no' })).toBe('stable');
  });

  it('a weighted sticky split: 400 sessions give the canary 20% ± 5 points, and each session stays on its side', async () => {
    const sessions = Array.from({ length: 400 }, (_, i) => `session-${i}`);
    let toCanary = 0;
    for (let i = 0; i < sessions.length; i += 20) {
      const sides = await Promise.all(sessions.slice(i, i + 20).map((session) => sideOf('/weighted/a', { 'x-session': session })));
      toCanary += sides.filter((side) => side === 'canary').length;
    }
    // The hash is deterministic: the share is the same on every run and every instance.
    expect(toCanary).toBe(sessions.filter((session) => hashPoint(session) < 2000).length);
    expect(toCanary / sessions.length).toBeGreaterThanOrEqual(0.15);
    expect(toCanary / sessions.length).toBeLessThanOrEqual(0.25);
    for (const session of sessions.slice(0, 10)) {
      const first = await sideOf('/weighted/a', { 'x-session': session });
      for (let i = 0; i < 3; i++) expect(await sideOf('/weighted/a', { 'x-session': session })).toBe(first);
    }
  });

  it('a weighted split without stickiness: 600 requests of one client give the canary 25% ± 6 points, each to exactly one side', async () => {
    // Binomial(600, 0.25): the standard deviation is 10.6 requests (1.8 points), so ± 6 points is over 3 of them.
    const before = { stable: stable.hits.length, canary: canary.hits.length };
    let toCanary = 0;
    for (let i = 0; i < 600; i += 30) {
      const sides = await Promise.all(Array.from({ length: 30 }, () => sideOf('/random/a')));
      toCanary += sides.filter((side) => side === 'canary').length;
    }
    expect(canary.hits.length - before.canary).toBe(toCanary);
    expect(stable.hits.length - before.stable).toBe(600 - toCanary);
    expect(toCanary / 600).toBeGreaterThanOrEqual(0.19);
    expect(toCanary / 600).toBeLessThanOrEqual(0.31);
  });

  it('sticky by principal: each user stays on one side, and users land on both', async () => {
    const seen = new Set<string>();
    for (let u = 0; u < 8; u++) {
      const user = await bearer(`split-user-${u}`, 'free');
      const first = await sideOf('/per-user/a', user);
      seen.add(first);
      for (let i = 0; i < 3; i++) expect(await sideOf('/per-user/a', user)).toBe(first);
    }
    expect(seen).toEqual(new Set(['stable', 'canary']));
  });
});

describe('split config', () => {
  const load = (split: unknown) => () =>
    loadConfig({ env: {}, overrides: { rest: { routes: [{ prefix: '/a', upstream: 'http://u', split }] as never } } });
  it('refuses an upstream with a path, a weight over 100, and a sticky header without a name', () => {
    expect(load({ upstream: 'http://c/x' })).toThrow(/origin only/);
    expect(load({ upstream: 'http://c', weight: 101 })).toThrow();
    expect(load({ upstream: 'http://c', weight: 5, sticky: { by: 'header' } })).toThrow(/give `name`/);
    expect(load({ upstream: 'http://c', weight: 5, sticky: { by: 'principal' } })().rest.routes[0]?.split?.weight).toBe(5);
  });
});
