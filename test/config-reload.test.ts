import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { FEATURES } from '../gateway/src/features.js';
import { deleteKeys, testKeyPrefix } from './helpers/cost-stack.js';
import { startEchoSubgraph, writeEchoSupergraph, type EchoSubgraph } from './helpers/echo-subgraph.js';
import { postGraphql, startTestGateway, type TestGateway } from './helpers/gateway.js';
import { spawnGateway } from './helpers/process.js';
import { TEST_REDIS_URL } from './helpers/redis.js';
import { eventually, metricValue } from './helpers/resilience.js';
import { startRestUpstream, type RestUpstream } from './helpers/rest-upstream.js';

/**
 * Config hot reload against a real gateway, an echoing subgraph, a REST upstream and real Redis:
 * the admin action, tiers, REST routes, header rules, trusted documents, refusals, all-or-nothing,
 * and no request lost while reloading under load.
 */
const TOKEN = 'reload-token-0123456789abcdef';
const prefix = testKeyPrefix('reload');
const QUERY = '{ usersHeaders }';

let users: EchoSubgraph;
let upstream: RestUpstream;
let gw: TestGateway;
let admin: string;
let dir: string;
let configFile: string;
let supergraphPath: string;

interface Variant {
  capacity?: number;
  routes?: string[];
  propagate?: string;
  insert?: string;
  manifest?: string;
  keyPrefix?: string;
  corsOrigin?: string;
}

/** Rate limits where every caller is anonymous and has a burst budget of `capacity` points. */
function anonymousBudget(capacity: number) {
  return {
    defaultTier: 'anonymous',
    tiers: {
      anonymous: {
        maxCost: 20,
        maxDepth: 8,
        maxAliases: 10,
        maxRootFields: 5,
        limits: [{ name: 'burst', kind: 'token_bucket', capacity, refillPerSecond: 1000 }],
      },
    },
  };
}

/** A config of the supergraph and an in-memory budget of `capacity` (plus `extra` sections), written to `path`. */
function writeBudgetOnlyConfig(path: string, capacity: number, extra: Record<string, unknown> = {}): void {
  writeFileSync(
    path,
    stringify({
      supergraph: { path: supergraphPath, watch: false },
      ...extra,
      rateLimit: { store: 'memory', ...anonymousBudget(capacity) },
    }),
  );
}

/** The config file as a team would write it; each test changes what it is about. */
function writeConfig(variant: Variant = {}): void {
  const config = {
    supergraph: { path: supergraphPath, watch: false },
    redis: { url: TEST_REDIS_URL, keyPrefix: variant.keyPrefix ?? prefix },
    server: { cors: { origins: [variant.corsOrigin ?? 'https://app.example'] } },
    rateLimit: anonymousBudget(variant.capacity ?? 1000),
    headers: {
      all: {
        request: [
          { propagate: { named: variant.propagate ?? 'x-tenant' } },
          ...(variant.insert ? [{ insert: { name: 'x-gateway-config', value: variant.insert } }] : []),
        ],
      },
    },
    rest: {
      routes: (variant.routes ?? ['/legacy']).map((route) => ({ prefix: route, upstream: upstream.origin, auth: { mode: 'optional' } })),
    },
    graphql: variant.manifest ? { trustedDocuments: { manifest: variant.manifest, mode: 'log-unknown' } } : {},
    admin: { port: 0, tokens: [{ name: 'deployer', file: join(dir, 'token') }] },
  };
  writeFileSync(configFile, stringify(config));
}

const reload = async () => {
  const response = await fetch(`${admin}/admin/config/reload`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
};

/** What the users subgraph received for one query with these client headers. */
async function received(headers: Record<string, string>) {
  const result = await postGraphql(gw.graphqlUrl, { query: QUERY }, headers);
  expect(result.status).toBe(200);
  return { result, echoed: JSON.parse((result.body.data as { usersHeaders: string }).usersHeaders) as Record<string, string> };
}

const reloads = (result: string) => metricValue(gw, 'gateway_config_reloads_total', { result });
const readiness = async () =>
  (await (await fetch(`${admin}/admin/ready`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as any;

beforeAll(async () => {
  [users, upstream] = await Promise.all([startEchoSubgraph('users'), startRestUpstream()]);
  dir = mkdtempSync(join(tmpdir(), 'gw-reload-'));
  writeFileSync(join(dir, 'token'), TOKEN);
  supergraphPath = writeEchoSupergraph([users]);
  configFile = join(dir, 'gateway.yaml');
  writeConfig();
  gw = await startTestGateway({ server: { readinessDetail: true } }, { configFile });
  admin = String(gw.logs.find((line) => line.msg === 'admin API listening')[0]?.url);
});

afterAll(async () => {
  await gw?.close();
  await Promise.all([users?.close(), upstream?.close()]);
  await deleteKeys(TEST_REDIS_URL, prefix);
});

describe('config reload: what changes live', () => {
  it("a tier's new budget is what the next request is charged against", async () => {
    writeConfig();
    await reload();
    const before = await postGraphql(gw.graphqlUrl, { query: QUERY });
    expect(before.headers.get('ratelimit-policy')).toMatch(/^"burst";q=1000;/);
    const version = (await readiness()).config.version as string;

    writeConfig({ capacity: 40 });
    const { status, body } = await reload();
    expect(status).toBe(200);
    expect(body).toMatchObject({ result: 'applied', changed: ['rateLimit.tiers.anonymous.limits.0.capacity'] });
    expect(body.version).not.toBe(version);

    const after = await postGraphql(gw.graphqlUrl, { query: QUERY });
    expect(after.status).toBe(200);
    expect(after.headers.get('ratelimit-policy')).toMatch(/^"burst";q=40;/);
    expect(after.headers.get('x-ratelimit-limit')).toBe('40');
    // The admin API reads budgets with the tiers serving now.
    const budget = await fetch(`${admin}/admin/clients/ip:127.0.0.1/budget`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(((await budget.json()) as { limits: { limit: number }[] }).limits[0]?.limit).toBe(40);
    // The new version, its load time and the outcome are on the readiness detail and in the log.
    const ready = await readiness();
    expect(ready.config).toMatchObject({ version: body.version, lastReload: { result: 'applied', trigger: 'admin' } });
    const line = gw.logs.find((l) => l.msg === 'config reloaded').at(-1);
    expect(line).toMatchObject({ trigger: 'admin', version: body.version, changed: ['rateLimit.tiers.anonymous.limits.0.capacity'] });
  });

  it('a REST route added by a reload serves, and one removed is gone', async () => {
    writeConfig({ routes: ['/legacy'] });
    await reload();
    expect((await fetch(`${gw.url}/v2/echo`)).status).toBe(404);

    writeConfig({ routes: ['/v2'] });
    const { status, body } = await reload();
    expect(status).toBe(200);
    expect(body.changed).toEqual(['rest.routes.0.prefix']);
    const hits = upstream.hits.length;
    const served = await fetch(`${gw.url}/v2/echo?x=1`);
    expect(served.status).toBe(200);
    expect(((await served.json()) as { url: string }).url).toBe('/v2/echo?x=1');
    expect(upstream.hits.length).toBe(hits + 1);
    const removed = await fetch(`${gw.url}/legacy/echo`);
    expect(removed.status).toBe(404);
    expect(((await removed.json()) as { error: string }).error).toBe('NOT_FOUND');
    expect(upstream.hits.length).toBe(hits + 1);
  });

  it('a header rule changed by a reload is what the subgraph receives', async () => {
    writeConfig();
    await reload();
    const sent = { 'x-tenant': 'acme', 'x-flag': 'beta' };
    const before = (await received(sent)).echoed;
    expect(before['x-tenant']).toBe('acme');
    expect(before['x-flag']).toBeUndefined();

    writeConfig({ propagate: 'x-flag', insert: 'v2' });
    expect((await reload()).body.result).toBe('applied');
    const after = (await received(sent)).echoed;
    expect(after['x-flag']).toBe('beta');
    expect(after['x-gateway-config']).toBe('v2');
    expect(after['x-tenant']).toBeUndefined();
  });

  it('CORS origins change live', async () => {
    writeConfig({ corsOrigin: 'https://new.example' });
    expect((await reload()).body.result).toBe('applied');
    const preflight = (origin: string) =>
      fetch(`${gw.graphqlUrl}`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST' } });
    expect((await preflight('https://new.example')).headers.get('access-control-allow-origin')).toBe('https://new.example');
    expect((await preflight('https://app.example')).headers.get('access-control-allow-origin')).toBeNull();
  });

  it('a trusted-documents manifest named by a reload serves its documents by id', async () => {
    const body = 'query Listed { usersHeaders }';
    const { createHash } = await import('node:crypto');
    const id = createHash('sha256').update(body).digest('hex');
    const manifest = join(dir, 'manifest.json');
    writeFileSync(
      manifest,
      JSON.stringify({ format: 'apollo-persisted-query-manifest', version: 1, operations: [{ id, name: 'Listed', type: 'query', body }] }),
    );
    writeConfig();
    await reload();
    const unknown = await postGraphql(gw.graphqlUrl, { documentId: `sha256:${id}` } as never);
    expect(unknown.body.errors?.[0]?.extensions?.code).toBe('PERSISTED_QUERY_NOT_FOUND');

    writeConfig({ manifest });
    expect((await reload()).body.result).toBe('applied');
    const listed = await postGraphql(gw.graphqlUrl, { documentId: `sha256:${id}` } as never);
    expect(listed.status).toBe(200);
    expect(typeof (listed.body.data as { usersHeaders: string }).usersHeaders).toBe('string');
  });
});

describe('config reload: all or nothing', () => {
  it('an invalid file changes nothing: 422, counted, and the running config serves on', async () => {
    writeConfig();
    await reload();
    const version = (await readiness()).config.version as string;
    const invalid = await reloads('invalid');

    // A tier change next to a value the schema refuses.
    writeConfig({ capacity: 50 });
    writeFileSync(configFile, `${(await import('node:fs')).readFileSync(configFile, 'utf8')}\nrest:\n  routes: nope\n`);
    let answer = await reload();
    expect(answer.status).toBe(422);
    expect(answer.body.error).toBe('CONFIG_RELOAD_INVALID');
    writeFileSync(configFile, 'rateLimit: [unclosed');
    answer = await reload();
    expect(answer.status).toBe(422);
    // The parser quotes the lines around its error; none of them may leave the gateway.
    writeFileSync(configFile, 'redis:\n  url: redis://:s3cret-pass@127.0.0.1:1\n bad: 1\n');
    answer = await reload();
    expect(answer.status).toBe(422);
    expect(String(answer.body.message)).toMatch(/not valid YAML: All mapping items must start at the same column at line 3, column 1$/);
    expect(await reloads('invalid')).toBe(invalid + 3);
    expect(JSON.stringify(answer.body)).not.toContain('s3cret');
    expect(JSON.stringify(await readiness())).not.toContain('s3cret');
    expect(JSON.stringify(gw.logs)).not.toContain('s3cret');

    const after = await postGraphql(gw.graphqlUrl, { query: QUERY });
    expect(after.headers.get('x-ratelimit-limit')).toBe('1000');
    expect((await fetch(`${gw.url}/legacy/echo`)).status).toBe(200);
    expect((await readiness()).config).toMatchObject({ version, lastReload: { result: 'invalid' } });
    expect(gw.logs.find((l) => l.msg === 'config reload not applied' && l.result === 'invalid').length).toBeGreaterThanOrEqual(2);
  });

  it('a feature that cannot prepare (a missing manifest) fails the whole reload: the tier and route changes beside it are not applied', async () => {
    writeConfig();
    await reload();
    const failed = await reloads('failed');
    writeConfig({ capacity: 70, routes: ['/v3'], propagate: 'x-flag', manifest: join(dir, 'missing.json') });
    const { status, body } = await reload();
    expect(body.error, String(body.message)).toBe('CONFIG_RELOAD_FAILED');
    expect(status).toBe(422);
    expect(String(body.message)).toContain('persisted');
    expect(await reloads('failed')).toBe(failed + 1);

    const after = await received({ 'x-tenant': 'acme', 'x-flag': 'beta' });
    expect(after.result.headers.get('x-ratelimit-limit')).toBe('1000');
    expect(after.echoed['x-tenant']).toBe('acme');
    expect(after.echoed['x-flag']).toBeUndefined();
    expect((await fetch(`${gw.url}/v3/echo`)).status).toBe(404);
    expect((await fetch(`${gw.url}/legacy/echo`)).status).toBe(200);
  });

  it('a change to a key only a restart applies is refused, naming it, and nothing else of the change is applied', async () => {
    writeConfig();
    await reload();
    const refused = await reloads('refused');
    writeConfig({ capacity: 90, keyPrefix: `${prefix}other:` });
    const { status, body } = await reload();
    expect(status, String(body.message)).toBe(409);
    expect(body.error).toBe('CONFIG_RESTART_REQUIRED');
    expect(String(body.message)).toContain('redis.keyPrefix');
    expect(String(body.message)).not.toContain('rateLimit');
    expect(await reloads('refused')).toBe(refused + 1);
    const line = gw.logs.find((l) => l.msg === 'config reload not applied' && l.result === 'refused').at(-1);
    expect(line?.restartRequired).toEqual(['redis.keyPrefix']);
    expect((await postGraphql(gw.graphqlUrl, { query: QUERY })).headers.get('x-ratelimit-limit')).toBe('1000');
  });

  it('a file that says what already serves is "unchanged"', async () => {
    writeConfig();
    await reload();
    const unchanged = await reloads('unchanged');
    const { status, body } = await reload();
    expect(status).toBe(200);
    expect(body).toMatchObject({ result: 'unchanged', changed: [] });
    expect(await reloads('unchanged')).toBe(unchanged + 1);
  });

  it('only a write token may reload', async () => {
    const response = await fetch(`${admin}/admin/config/reload`, { method: 'POST' });
    expect(response.status).toBe(401);
  });
});

describe('config reload: requests under way', () => {
  it('a request in flight finishes on the tier policy and the route it started with', async () => {
    writeConfig();
    await reload();
    users.delayMs = 600;
    try {
      const graphql = postGraphql(gw.graphqlUrl, { query: QUERY });
      const rest = fetch(`${gw.url}/legacy/slow?ms=600`);
      await new Promise((resolve) => setTimeout(resolve, 200));
      // The limit is renamed and the route removed while both are under way.
      writeFileSync(configFile, readFileSync(configFile, 'utf8').replace('name: burst', 'name: burst2').replace('/legacy', '/elsewhere'));
      expect((await reload()).body.result).toBe('applied');
      const [inFlight, restInFlight] = await Promise.all([graphql, rest]);
      expect(inFlight.status).toBe(200);
      expect(inFlight.headers.get('ratelimit-policy')).toMatch(/^"burst";/);
      expect(restInFlight.status).toBe(200);
      users.delayMs = 0;
      const next = await postGraphql(gw.graphqlUrl, { query: QUERY });
      expect(next.headers.get('ratelimit-policy')).toMatch(/^"burst2";/);
      expect((await fetch(`${gw.url}/legacy/echo`)).status).toBe(404);
    } finally {
      users.delayMs = 0;
    }
  });
});

describe('config reload under load', () => {
  it('loses no request: 300 requests, 10 at a time, while the config is reloaded 6 times', async () => {
    writeConfig();
    await reload();
    const applied = await reloads('applied');
    const outcomes: { status: number; ok: boolean }[] = [];
    let next = 0;
    const worker = async () => {
      while (next < 300) {
        const index = next++;
        if (index % 3 === 0) {
          const response = await fetch(`${gw.url}/legacy/echo?i=${index}`);
          const body = (await response.json()) as { url?: string };
          outcomes.push({ status: response.status, ok: body.url === `/legacy/echo?i=${index}` });
        } else {
          const result = await postGraphql(gw.graphqlUrl, { query: QUERY }, { 'x-tenant': `t${index}` });
          const data = result.body.data as { usersHeaders?: string } | undefined;
          const echoed = data?.usersHeaders ? (JSON.parse(data.usersHeaders) as Record<string, string>) : {};
          // Either rule set: the tenant header, or the flag rule that inserts the config's mark.
          const ok = echoed['x-tenant'] === `t${index}` || echoed['x-gateway-config'] === 'v2';
          outcomes.push({ status: result.status, ok: ok && result.body.errors === undefined });
        }
      }
    };
    const reloading = (async () => {
      for (let round = 0; round < 6; round++) {
        while (next < (round + 1) * 40) await new Promise((resolve) => setTimeout(resolve, 5));
        writeConfig(round % 2 === 0 ? { capacity: 900 + round, propagate: 'x-flag', insert: 'v2' } : { capacity: 900 + round });
        expect((await reload()).body.result).toBe('applied');
      }
    })();
    await Promise.all([...Array.from({ length: 10 }, worker), reloading]);
    expect(outcomes).toHaveLength(300);
    expect(outcomes.filter((outcome) => outcome.status === 200)).toHaveLength(300);
    expect(outcomes.filter((outcome) => outcome.ok)).toHaveLength(300);
    expect(await reloads('applied')).toBe(applied + 6);
  });
});

describe('config reload: the file watch', () => {
  it('with reload.watch, a changed file is applied without a signal or a call', async () => {
    const watched = join(dir, 'watched.yaml');
    const write = (capacity: number) => writeBudgetOnlyConfig(watched, capacity, { reload: { watch: true, watchIntervalMs: 50 } });
    write(100);
    const watching = await startTestGateway({}, { configFile: watched });
    try {
      const limit = async () => (await postGraphql(watching.graphqlUrl, { query: QUERY })).headers.get('x-ratelimit-limit');
      expect(await limit()).toBe('100');
      write(60);
      expect(await eventually(async () => (await limit()) === '60')).toBe(true);
      expect(watching.logs.find((l) => l.msg === 'config reloaded')[0]).toMatchObject({ trigger: 'file' });
    } finally {
      await watching.close();
    }
  });
});

describe('config reload: during shutdown', () => {
  it('changes nothing once the gateway is shutting down, whoever asks', async () => {
    const file = join(dir, 'closing.yaml');
    writeBudgetOnlyConfig(file, 100);
    const closing = await startTestGateway({}, { configFile: file });
    await closing.close();
    writeBudgetOnlyConfig(file, 60);
    const outcome = await closing.gateway.reloadConfig('signal');
    expect(outcome).toMatchObject({ result: 'refused', shuttingDown: true, changed: [] });
    expect(JSON.stringify(closing.gateway.config.rateLimit.tiers)).toContain('"capacity":100');
    expect(closing.logs.find((l) => l.msg === 'config reloaded')).toEqual([]);
  });
});

describe('config reload: timeouts and breakers', () => {
  it("a REST route's own breaker takes new subgraph-default breaker settings", async () => {
    const own = await startRestUpstream();
    const file = join(dir, 'rest-breakers.yaml');
    const write = (consecutiveFailures: number) =>
      writeFileSync(
        file,
        stringify({
          supergraph: { path: supergraphPath, watch: false },
          rateLimit: { enabled: false },
          resilience: { subgraphDefaults: { breaker: { consecutiveFailures, resetTimeoutMs: 600_000 } } },
          rest: {
            routes: [{ prefix: '/old', upstream: own.origin, rewrite: '/api', auth: { mode: 'optional' }, retries: { maxRetries: 0 } }],
          },
        }),
      );
    write(10);
    const routed = await startTestGateway({}, { configFile: file });
    try {
      write(1);
      expect((await routed.gateway.reloadConfig()).changed).toEqual(['resilience.subgraphDefaults.breaker.consecutiveFailures']);
      await own.kill();
      expect((await fetch(`${routed.url}/old/echo`)).status).toBe(502);
      await own.revive();
      // One failure was enough under the new settings: the breaker is open, the upstream not called.
      const before = own.hits.length;
      const refused = await fetch(`${routed.url}/old/echo`);
      expect(refused.status).toBe(503);
      expect(((await refused.json()) as { error: string }).error).toBe('UPSTREAM_UNAVAILABLE');
      expect(own.hits.length).toBe(before);
    } finally {
      await routed.close();
      await own.close();
    }
  });

  it('new calls take the new timeout; an open breaker stays open and half-opens after the new reset timeout', async () => {
    const slow = await startEchoSubgraph('slow');
    const file = join(dir, 'breakers.yaml');
    const slowSupergraph = writeEchoSupergraph([slow]);
    const write = (settings: Record<string, unknown>) =>
      writeFileSync(
        file,
        stringify({
          supergraph: { path: slowSupergraph, watch: false },
          rateLimit: { enabled: false },
          subgraphs: {
            slow: {
              retry: { maxRetries: 0 },
              fallback: { cache: false },
              staleIfSlow: { enabled: false },
              breaker: { consecutiveFailures: 1, resetTimeoutMs: 600_000 },
              ...settings,
            },
          },
        }),
      );
    write({ timeoutMs: 2_000 });
    const breakers = await startTestGateway({}, { configFile: file });
    const ask = async () => {
      const result = await postGraphql(breakers.graphqlUrl, { query: '{ slowHeaders }' });
      return result.body.errors?.[0]?.extensions?.code ?? 'ok';
    };
    try {
      slow.delayMs = 300;
      expect(await ask()).toBe('ok');
      write({ timeoutMs: 100 });
      expect((await breakers.gateway.reloadConfig()).changed).toEqual(['subgraphs.slow.timeoutMs']);
      // The call times out now, and that one failure opens the breaker (consecutiveFailures: 1).
      expect(await ask()).not.toBe('ok');
      const calls = slow.received.length;
      expect(await ask()).not.toBe('ok');
      expect(slow.received.length).toBe(calls);

      // New breaker settings: still open (no call reaches the subgraph), then a probe after the new 200 ms.
      slow.delayMs = 0;
      write({ timeoutMs: 2_000, breaker: { consecutiveFailures: 1, resetTimeoutMs: 200 } });
      const outcome = await breakers.gateway.reloadConfig();
      expect(outcome.result).toBe('applied');
      expect(outcome.changed.sort()).toEqual(['subgraphs.slow.breaker.resetTimeoutMs', 'subgraphs.slow.timeoutMs']);
      expect(await ask()).not.toBe('ok');
      expect(slow.received.length).toBe(calls);
      // With the old 600 s reset timeout this would not happen within the test.
      expect(await eventually(async () => (await ask()) === 'ok')).toBe(true);
    } finally {
      await breakers.close();
      await slow.close();
    }
  });
});

describe('config reload: the documented list', () => {
  it("docs/operations.md lists exactly the keys the features take live (each feature's `reloads`)", () => {
    const page = readFileSync(new URL('../docs/operations.md', import.meta.url), 'utf8');
    const section = page.slice(page.indexOf('### What reloads and what needs a restart'));
    const rows = section.split('\n').filter((line) => line.startsWith('| `'));
    const documented = rows.flatMap((row) => [...(row.split(' | ')[0] ?? '').matchAll(/`([^`]+)`/g)].map((match) => match[1]));
    const declared = FEATURES.flatMap((feature) => feature.reloads ?? []);
    expect(new Set(documented)).toEqual(new Set(declared));
    expect(documented.length).toBeGreaterThan(10);
  });
});

describe('config reload: SIGHUP', () => {
  it('the gateway process reloads its config file on SIGHUP, and logs what changed', async () => {
    const file = join(dir, 'process.yaml');
    const write = (capacity: number) => writeBudgetOnlyConfig(file, capacity);
    write(100);
    const gateway = spawnGateway({}, ['--config', file]);
    try {
      const url = await gateway.ready;
      const limit = async () => (await postGraphql(`${url}/graphql`, { query: QUERY })).headers.get('x-ratelimit-limit');
      expect(await limit()).toBe('100');
      write(70);
      gateway.child.kill('SIGHUP');
      expect(await eventually(() => gateway.stdout.some((line) => line.includes('"config reloaded"')))).toBe(true);
      const line = JSON.parse(gateway.stdout.find((l) => l.includes('"config reloaded"')) ?? '{}') as Record<string, unknown>;
      expect(line).toMatchObject({ trigger: 'signal', result: 'applied', changed: ['rateLimit.tiers.anonymous.limits.0.capacity'] });
      expect(await limit()).toBe('70');
    } finally {
      gateway.child.kill('SIGTERM');
      await gateway.exited;
    }
  });
});
