import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileApiKeyStore, RedisApiKeyStore } from '../gateway/src/auth/api-key-store.js';
import { createApiKey, hashApiKey } from '../gateway/src/auth/api-keys.js';
import { postGraphql, startTestGateway, type TestGateway } from './helpers/gateway.js';
import { REPO_ROOT } from './helpers/process.js';
import { startPrivateRedis } from './helpers/redis-server.js';
import { useTinySubgraph } from './helpers/tiny-subgraph.js';
import { describeApiKeyStoreContract } from './helpers/contracts/api-key-store.js';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const QUERY = { query: '{ warehouses { code } }' };

const tiny = useTinySubgraph();
const shownKeys: string[] = [];

/** Runs `npm run apikey -- ...` as a real process (tsx, as npm would), with the given gateway config file. */
function apikeyCli(configFile: string, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/apikey.ts', ...args, '--config', configFile], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '' },
    encoding: 'utf8',
  });
  if (result.stdout.startsWith('gwk_')) shownKeys.push(result.stdout.trim());
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** The secret part of `gwk_<16 hex>_<secret>` (base64url, which may itself contain `_`). */
const secretOf = (key: string) => key.slice('gwk_0123456789abcdef_'.length);

const withKey = (key: string, extra: Record<string, string> = {}) => ({ 'x-api-key': key, ...extra });

async function waitForRedis(gw: TestGateway): Promise<void> {
  for (;;) {
    const ready = (await (await fetch(`${gw.url}/ready`)).json()) as { redis: { status: string } };
    if (ready.redis.status === 'ready') return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** One contract (test/helpers/contracts/api-key-store.ts), every store; a Redis Cluster runs it in test/redis-cluster.test.ts. */
const contractPrefix = `test:apikeys-contract:${process.pid}:${Date.now()}:`;
const contractClients: Redis[] = [];
afterAll(async () => {
  const admin = new Redis(REDIS_URL);
  const keys = await admin.keys(`${contractPrefix}*`);
  if (keys.length) await admin.del(...keys);
  admin.disconnect();
  for (const client of contractClients) client.disconnect();
});
describeApiKeyStoreContract('file', () => new FileApiKeyStore(join(mkdtempSync(join(tmpdir(), 'gw-apikeys-contract-')), 'keys.json')));
describeApiKeyStoreContract('redis', () => {
  // A fresh, empty store per test: its own prefix under this file's.
  const client = new Redis(REDIS_URL, { keyPrefix: `${contractPrefix}${contractClients.length}:` });
  contractClients.push(client);
  return new RedisApiKeyStore(client);
});

describe('API keys in Redis, shared by two gateway instances', () => {
  const prefix = `test:apikeys:${process.pid}:${Date.now()}:`;
  let redis: Redis;
  let configFile: string;
  let a: TestGateway;
  let b: TestGateway;

  beforeAll(async () => {
    redis = new Redis(REDIS_URL);
    configFile = join(mkdtempSync(join(tmpdir(), 'gw-apikeys-')), 'gateway.yaml');
    writeFileSync(configFile, `redis:\n  url: ${REDIS_URL}\n  keyPrefix: "${prefix}"\n`);
    // /ready's Redis status: detail is behind server.readinessDetail.
    const config = {
      supergraph: { path: tiny.supergraphPath, watch: false },
      redis: { url: REDIS_URL, keyPrefix: prefix },
      server: { readinessDetail: true },
    };
    [a, b] = await Promise.all([startTestGateway(config), startTestGateway(config)]);
    await Promise.all([waitForRedis(a), waitForRedis(b)]);
  });

  afterAll(async () => {
    await a?.close();
    await b?.close();
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  });

  let id = '';
  let key = '';

  it('creates a key from the CLI, shows it once, and stores only its SHA-256 hash', async () => {
    const created = apikeyCli(configFile, 'create', '--owner', 'billing-service', '--tier', 'pro', '--scopes', 'orders:read:all reports');
    expect(created.status).toBe(0);
    key = created.stdout.trim();
    expect(key).toMatch(/^gwk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    id = key.split('_')[1] as string;
    expect(created.stderr).toContain(`created API key ${id} for billing-service`);

    const stored = await redis.get(`${prefix}{apikeys}:key:${id}`);
    expect(JSON.parse(stored ?? '{}')).toMatchObject({
      id,
      owner: 'billing-service',
      tier: 'pro',
      scopes: ['orders:read:all', 'reports'],
      hash: hashApiKey(key),
    });
    const everything = await Promise.all(
      (await redis.keys(`${prefix}*`)).map(async (k) => ((await redis.type(k)) === 'string' ? redis.get(k) : redis.smembers(k))),
    );
    expect(JSON.stringify(everything)).not.toContain(secretOf(key));
  });

  it('authenticates the key on every instance, and tells the subgraph who the service is', async () => {
    for (const gw of [a, b]) {
      const result = await postGraphql(gw.graphqlUrl, QUERY, withKey(key, { 'x-user-id': 'spoofed-admin', 'x-user-scopes': 'admin' }));
      expect(result.status).toBe(200);
      expect(tiny.subgraph.receivedHeaders.at(-1)).toMatchObject({
        'x-user-id': 'billing-service',
        'x-user-tier': 'pro',
        'x-user-scopes': 'orders:read:all reports',
        'x-auth-kind': 'api_key',
      });
      expect(tiny.subgraph.receivedHeaders.at(-1)?.['x-api-key']).toBeUndefined();
    }
  });

  it('lists keys without hashes or keys', () => {
    const listed = apikeyCli(configFile, 'list', '--json');
    expect(listed.status).toBe(0);
    const keys = JSON.parse(listed.stdout) as Record<string, unknown>[];
    expect(keys).toEqual([expect.objectContaining({ id, owner: 'billing-service', tier: 'pro' })]);
    expect(listed.stdout).not.toContain('hash');
    expect(listed.stdout).not.toContain(key);
  });

  it('refuses unknown, malformed and tampered keys with 401', async () => {
    const tampered = `${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}`;
    const unknown = `gwk_0123456789abcdef_${'A'.repeat(43)}`;
    for (const bad of [tampered, unknown, 'not-a-key', `${key}x`]) {
      const result = await postGraphql(a.graphqlUrl, QUERY, withKey(bad));
      expect(result.status).toBe(401);
      expect(result.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      expect(result.headers.get('www-authenticate')).toContain('error="invalid_token"');
    }
  });

  it('refuses a request that carries both a bearer token and an API key', async () => {
    const result = await postGraphql(a.graphqlUrl, QUERY, withKey(key, { authorization: 'Bearer x.y.z' }));
    expect(result.status).toBe(401);
    expect(result.headers.get('www-authenticate')).toContain('error="invalid_request"');
  });

  it('refuses an expired key', async () => {
    const prefixed = new Redis(REDIS_URL, { keyPrefix: prefix });
    const expired = await createApiKey(new RedisApiKeyStore(prefixed), {
      owner: 'old-batch-job',
      tier: 'free',
      scopes: [],
      expiresAt: new Date(Date.now() - 1000),
    });
    prefixed.disconnect();
    shownKeys.push(expired.key);
    const result = await postGraphql(a.graphqlUrl, QUERY, withKey(expired.key));
    expect(result.status).toBe(401);
    expect(result.body.errors?.[0]?.message).toContain('revoked or has expired');
  });

  it('rotates a key: the new one works; the old one is revoked, or works until the grace period ends', async () => {
    const graceful = apikeyCli(configFile, 'rotate', id, '--grace', '3600');
    expect(graceful.status).toBe(0);
    const next = graceful.stdout.trim();
    expect((await postGraphql(a.graphqlUrl, QUERY, withKey(next))).status).toBe(200);
    expect((await postGraphql(a.graphqlUrl, QUERY, withKey(key))).status).toBe(200);
    const old = JSON.parse((await redis.get(`${prefix}{apikeys}:key:${id}`)) ?? '{}') as { expiresAt: string; rotatedTo: string };
    expect(old.rotatedTo).toBe(next.split('_')[1]);
    expect(Date.parse(old.expiresAt) - Date.now()).toBeGreaterThan(3_000_000);

    const nextId = next.split('_')[1] as string;
    const hard = apikeyCli(configFile, 'rotate', nextId);
    expect(hard.status).toBe(0);
    expect((await postGraphql(b.graphqlUrl, QUERY, withKey(next))).status).toBe(401);
    expect((await postGraphql(b.graphqlUrl, QUERY, withKey(hard.stdout.trim()))).status).toBe(200);
  });

  it('stops a revoked key on the next request, on every instance', async () => {
    expect((await postGraphql(b.graphqlUrl, QUERY, withKey(key))).status).toBe(200);
    const revoked = apikeyCli(configFile, 'revoke', id);
    expect(revoked.status).toBe(0);
    for (const gw of [a, b]) {
      const result = await postGraphql(gw.graphqlUrl, QUERY, withKey(key));
      expect(result.status).toBe(401);
    }
  });

  it('never writes a key to the log', () => {
    expect(shownKeys.length).toBeGreaterThanOrEqual(4);
    for (const shown of shownKeys) {
      expect(a.logs.raw).not.toContain(shown);
      expect(b.logs.raw).not.toContain(shown);
      expect(a.logs.raw).not.toContain(secretOf(shown));
    }
  });
});

describe('API keys without Redis (file store)', () => {
  it('creates, uses and revokes a key kept in a file (hashes only, mode 0600)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-apikeys-file-'));
    const file = join(dir, 'keys.json');
    const configFile = join(dir, 'gateway.yaml');
    writeFileSync(configFile, `auth:\n  apiKeys:\n    file: ${file}\n`);
    const gw = await startTestGateway({ supergraph: { path: tiny.supergraphPath, watch: false }, auth: { apiKeys: { file } } });
    try {
      const created = apikeyCli(configFile, 'create', '--owner', 'reports', '--scopes', 'reports');
      const key = created.stdout.trim();
      expect(readFileSync(file, 'utf8')).not.toContain(secretOf(key));
      expect(readFileSync(file, 'utf8')).toContain(hashApiKey(key));
      expect((await postGraphql(gw.graphqlUrl, QUERY, withKey(key))).status).toBe(200);
      expect(tiny.subgraph.receivedHeaders.at(-1)).toMatchObject({
        'x-user-id': 'reports',
        'x-user-tier': 'free',
        'x-auth-kind': 'api_key',
      });

      expect(apikeyCli(configFile, 'revoke', key.split('_')[1] as string).status).toBe(0);
      expect((await postGraphql(gw.graphqlUrl, QUERY, withKey(key))).status).toBe(401);
    } finally {
      await gw.close();
    }
  });
});

describe('API keys when they cannot be checked or are not accepted', () => {
  it('answers 503 AUTH_UNAVAILABLE when the key store (Redis) is down, without hanging', async () => {
    const gw = await startTestGateway({
      supergraph: { path: tiny.supergraphPath, watch: false },
      redis: { url: 'redis://127.0.0.1:1', connectTimeoutMs: 200 },
    });
    try {
      const result = await postGraphql(gw.graphqlUrl, QUERY, withKey(`gwk_0123456789abcdef_${'A'.repeat(43)}`));
      expect(result.status).toBe(503);
      expect(result.body.errors?.[0]?.extensions?.code).toBe('AUTH_UNAVAILABLE');
      expect(result.headers.get('retry-after')).toBe('1');
    } finally {
      await gw.close();
    }
  });

  it('answers 503 AUTH_UNAVAILABLE within redis.commandTimeoutMs when Redis hangs (frozen), and serves again after', async () => {
    const server = await startPrivateRedis();
    const admin = new Redis(server.url, { keyPrefix: 'gw:' });
    const { key } = await createApiKey(new RedisApiKeyStore(admin), { owner: 'svc', tier: 'pro', scopes: [] });
    shownKeys.push(key);
    const gw = await startTestGateway({
      supergraph: { path: tiny.supergraphPath, watch: false },
      redis: { url: server.url, commandTimeoutMs: 300 },
      server: { readinessDetail: true },
    });
    try {
      const ready = async () => ((await (await fetch(`${gw.url}/ready`)).json()) as { redis: { status: string } }).redis.status === 'ready';
      for (let i = 0; i < 100 && !(await ready()); i++) await new Promise((resolve) => setTimeout(resolve, 50));
      expect((await postGraphql(gw.graphqlUrl, QUERY, withKey(key))).status).toBe(200);
      server.freeze();
      const hung = await postGraphql(gw.graphqlUrl, QUERY, withKey(key));
      expect(hung.status).toBe(503);
      expect(hung.body.errors?.[0]?.extensions?.code).toBe('AUTH_UNAVAILABLE');
      server.thaw();
      let back = 0;
      for (let i = 0; i < 40 && back !== 200; i++) {
        back = (await postGraphql(gw.graphqlUrl, QUERY, withKey(key))).status;
        if (back !== 200) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(back).toBe(200);
    } finally {
      server.thaw();
      await gw.close();
      admin.disconnect();
      await server.stop();
    }
  });

  it('refuses API keys when auth.apiKeys.enabled is false, and reads them from a configured header', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'gw-apikeys-header-')), 'keys.json');
    const { key } = await createApiKey(new FileApiKeyStore(file), { owner: 'svc', tier: 'pro', scopes: [] });
    shownKeys.push(key);
    const disabled = await startTestGateway({
      supergraph: { path: tiny.supergraphPath, watch: false },
      auth: { apiKeys: { enabled: false, file } },
    });
    const custom = await startTestGateway({
      supergraph: { path: tiny.supergraphPath, watch: false },
      auth: { apiKeys: { header: 'X-Service-Key', file } },
    });
    try {
      const refused = await postGraphql(disabled.graphqlUrl, QUERY, withKey(key));
      expect(refused.status).toBe(401);
      expect(refused.body.errors?.[0]?.message).toContain('not accepted');
      expect((await postGraphql(custom.graphqlUrl, QUERY, { 'x-service-key': key })).status).toBe(200);
      // On that gateway x-api-key is just another header: the caller is anonymous.
      expect((await postGraphql(custom.graphqlUrl, QUERY, withKey(key))).status).toBe(200);
      expect(tiny.subgraph.receivedHeaders.at(-1)?.['x-auth-kind']).toBe('anonymous');
    } finally {
      await disabled.close();
      await custom.close();
    }
  });
});
