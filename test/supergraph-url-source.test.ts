import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../gateway/src/config/index.js';
import { createGateway } from '../gateway/src/server.js';
import { postGraphql, startTestGateway, type TestGateway } from './helpers/gateway.js';
import { LogCapture } from './helpers/logs.js';
import { eventually, metricValue } from './helpers/resilience.js';
import { startSupergraphHttpServer, type SupergraphHttpServer } from './helpers/supergraph-servers.js';
import { TINY_SDL, TINY_SDL_V2, composeTiny, startTinySubgraph, type TinySubgraph } from './helpers/tiny-subgraph.js';

const CAPACITY = '{ warehouses { code capacity } }';
const KEY_ENV = `TEST_SUPERGRAPH_CDN_KEY_${process.pid}`;
const KEY = 'cdn-key-that-must-never-be-logged';

let subgraph: TinySubgraph;
let cdn: SupergraphHttpServer;
let gw: TestGateway;
let dir: string;
let v1: string;
let v2: string;

interface Ready {
  supergraph: {
    id: string;
    source: {
      kind: string;
      location: string;
      version?: { etag?: string };
      lastSuccessAt?: string;
      lastError?: { message: string };
      usingCachedCopy: boolean;
      cacheFile?: string;
    };
  };
}

const ready = async (target: TestGateway) => (await (await fetch(`${target.url}/ready`)).json()) as Ready;
const fetches = (target: TestGateway, result: string) => metricValue(target, 'gateway_supergraph_fetches_total', { source: 'url', result });

/** A URL nothing listens on: connections are refused. */
async function deadUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}/supergraph`;
}

beforeAll(async () => {
  process.env[KEY_ENV] = KEY;
  subgraph = await startTinySubgraph();
  v1 = composeTiny(subgraph.url, TINY_SDL);
  v2 = composeTiny(subgraph.url, TINY_SDL_V2);
  // Hive's CDN shape: GET …/supergraph with X-Hive-CDN-Key; anything else is refused with 403.
  cdn = await startSupergraphHttpServer(v1, { requiredHeader: ['X-Hive-CDN-Key', KEY] });
  dir = mkdtempSync(join(tmpdir(), 'gw-url-source-'));
  gw = await startTestGateway({
    supergraph: {
      source: 'url',
      url: { url: cdn.url, pollIntervalMs: 50, authHeader: { name: 'X-Hive-CDN-Key', env: KEY_ENV } },
      cacheFile: join(dir, 'last-good.graphql'),
    },
    server: { readinessDetail: true },
  });
});

afterAll(async () => {
  await gw?.close();
  await cdn?.close();
  await subgraph?.close();
  delete process.env[KEY_ENV];
});

describe('the url source', () => {
  it('serves the supergraph from the URL and revalidates it with its ETag: 304s while unchanged, one 200 per change', async () => {
    expect((await postGraphql(gw.graphqlUrl, { query: CAPACITY })).status).toBe(400);
    expect(await eventually(() => cdn.counts.notModified >= 3)).toBe(true);
    expect(cdn.counts.ok).toBe(1);
    expect(cdn.counts.failed).toBe(0);
    const first = cdn.requests[0] ?? {};
    const later = cdn.requests.at(-1) ?? {};
    expect(first['if-none-match']).toBeUndefined();
    expect(later['if-none-match']).toMatch(/^"[0-9a-f]{16}"$/);
    expect(later['if-modified-since']).toBe('Thu, 01 Jan 2026 00:00:00 GMT');
    expect(later['x-hive-cdn-key']).toBe(KEY);

    cdn.publish(v2);
    expect(await eventually(async () => (await postGraphql(gw.graphqlUrl, { query: CAPACITY })).status === 200)).toBe(true);
    const served = await postGraphql(gw.graphqlUrl, { query: CAPACITY });
    expect(served.body).toEqual({
      data: {
        warehouses: [
          { code: 'AMS', capacity: 1200 },
          { code: 'LIS', capacity: 800 },
        ],
      },
    });
    expect(await eventually(() => cdn.counts.notModified >= 6)).toBe(true);
    expect(cdn.counts.ok).toBe(2);

    expect(await fetches(gw, 'updated')).toBe(2);
    expect(await fetches(gw, 'unchanged')).toBeGreaterThanOrEqual(5);
    expect(await fetches(gw, 'error')).toBe(0);
    expect(await metricValue(gw, 'gateway_supergraph_last_update_timestamp_seconds', {})).toBeGreaterThan(0);
    expect(readFileSync(join(dir, 'last-good.graphql'), 'utf8')).toBe(v2);

    const { supergraph } = await ready(gw);
    expect(supergraph.source).toMatchObject({
      kind: 'url',
      location: cdn.url,
      usingCachedCopy: false,
      cacheFile: join(dir, 'last-good.graphql'),
    });
    expect(supergraph.source.version?.etag).toBe(cdn.requests.at(-1)?.['if-none-match']);
    expect(supergraph.source.lastSuccessAt).toBeDefined();
    expect(gw.logs.raw).not.toContain(KEY);
    expect(JSON.stringify(supergraph)).not.toContain(KEY);
  });

  it('follows redirects, and sends the secret header to the configured origin only', async () => {
    const seen: { where: string; key: string | undefined }[] = [];
    const listen = async (handle: Parameters<typeof createServer>[1]) => {
      const server = createServer(handle);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
    };
    // Another host (another origin): it serves the blob, and must never see the key.
    const storage = await listen((req, res) => {
      seen.push({ where: `storage${req.url}`, key: req.headers['x-hive-cdn-key'] as string | undefined });
      res.writeHead(200, { 'content-type': 'text/plain' }).end(v1);
    });
    // The configured origin: an old path moved within it (the key still goes), then off to storage.
    const home = await listen((req, res) => {
      seen.push({ where: `home${req.url}`, key: req.headers['x-hive-cdn-key'] as string | undefined });
      if (req.url === '/old') res.writeHead(301, { location: '/new' }).end();
      else res.writeHead(302, { location: `${storage.origin}/blob?signed=1` }).end();
    });
    const redirected = await startTestGateway({
      supergraph: {
        source: 'url',
        url: { url: `${home.origin}/old`, pollIntervalMs: 60_000, authHeader: { name: 'X-Hive-CDN-Key', env: KEY_ENV } },
      },
    });
    try {
      expect((await postGraphql(redirected.graphqlUrl, { query: '{ warehouses { code } }' })).body.errors).toBeUndefined();
      expect(seen.slice(0, 3)).toEqual([
        { where: 'home/old', key: KEY },
        { where: 'home/new', key: KEY },
        { where: 'storage/blob?signed=1', key: undefined },
      ]);
    } finally {
      await redirected.close();
      await Promise.all([home.server, storage.server].map((server) => new Promise((resolve) => server.close(resolve))));
    }
  });

  it('refuses a supergraph that does not load and a failing URL, and keeps serving the last good one', async () => {
    const reloadFailures = await metricValue(gw, 'gateway_supergraph_reloads_total', { result: 'failure' });
    cdn.publish('type Query { hello: String }');
    expect(await eventually(async () => (await fetches(gw, 'rejected')) === 1)).toBe(true);
    expect(await metricValue(gw, 'gateway_supergraph_reloads_total', { result: 'failure' })).toBe(reloadFailures + 1);
    expect(gw.logs.find((l) => l.msg === 'supergraph from the source refused; the previous supergraph keeps serving')).toHaveLength(1);
    // The refused version is not fetched again: its ETag is revalidated (304) until something new is published.
    const okAfterRefusal = cdn.counts.ok;
    expect(await eventually(() => cdn.counts.notModified >= 10)).toBe(true);
    expect(cdn.counts.ok).toBe(okAfterRefusal);
    expect((await postGraphql(gw.graphqlUrl, { query: CAPACITY })).status).toBe(200);
    expect(readFileSync(join(dir, 'last-good.graphql'), 'utf8')).toBe(v2);

    cdn.failWith(503);
    expect(await eventually(async () => (await fetches(gw, 'error')) >= 2)).toBe(true);
    const { supergraph } = await ready(gw);
    expect(supergraph.source.lastError?.message).toContain('HTTP 503');
    expect((await fetch(`${gw.url}/ready`)).status).toBe(200);
    expect((await postGraphql(gw.graphqlUrl, { query: CAPACITY })).status).toBe(200);
    // One warning for the outage, not one per poll.
    expect(gw.logs.find((l) => l.msg === 'supergraph fetch failed; the current supergraph keeps serving' && l.level === 40)).toHaveLength(
      1,
    );

    cdn.failWith(undefined);
    cdn.publish(v2);
    expect(await eventually(async () => (await ready(gw)).supergraph.source.lastError === undefined)).toBe(true);
  });
});

describe('the last good copy on disk', () => {
  it('starts from the copy when the source is unreachable, says so, and leaves it once the source answers', async () => {
    const cacheFile = join(mkdtempSync(join(tmpdir(), 'gw-url-copy-')), 'copy.graphql');
    writeFileSync(cacheFile, v2);
    const down = await deadUrl();
    const cold = await startTestGateway({
      supergraph: { source: 'url', url: { url: down, pollIntervalMs: 50 }, cacheFile },
      server: { readinessDetail: true },
    });
    try {
      expect((await postGraphql(cold.graphqlUrl, { query: CAPACITY })).status).toBe(200);
      const readyResponse = await fetch(`${cold.url}/ready`);
      expect(readyResponse.status).toBe(200);
      const { supergraph } = (await readyResponse.json()) as Ready;
      expect(supergraph.source).toMatchObject({ kind: 'url', usingCachedCopy: true });
      expect(supergraph.source.lastError?.message).toContain('ECONNREFUSED');
      const warning = cold.logs.find(
        (l) => l.msg === 'supergraph source failed at start: serving the last good copy from disk until it answers',
      );
      expect(warning).toHaveLength(1);
      expect(warning[0]).toMatchObject({ cacheFile, level: 40 });
      expect(await metricValue(cold, 'gateway_supergraph_last_update_timestamp_seconds', {})).toBe(0);
    } finally {
      await cold.close();
    }
  });

  it('switches from the copy to the source once the source answers', async () => {
    const cacheFile = join(mkdtempSync(join(tmpdir(), 'gw-url-copy-')), 'copy.graphql');
    writeFileSync(cacheFile, v1);
    const flaky = await startSupergraphHttpServer(v2);
    flaky.failWith(503);
    const cold = await startTestGateway({
      supergraph: { source: 'url', url: { url: flaky.url, pollIntervalMs: 50 }, cacheFile },
      server: { readinessDetail: true },
    });
    try {
      expect((await postGraphql(cold.graphqlUrl, { query: CAPACITY })).status).toBe(400);
      expect((await ready(cold)).supergraph.source.usingCachedCopy).toBe(true);
      flaky.failWith(undefined);
      expect(await eventually(async () => (await postGraphql(cold.graphqlUrl, { query: CAPACITY })).status === 200)).toBe(true);
      expect((await ready(cold)).supergraph.source.usingCachedCopy).toBe(false);
      expect(readFileSync(cacheFile, 'utf8')).toBe(v2);
      expect(cold.logs.find((l) => l.msg === 'supergraph source answers again: no longer serving the copy from disk')).toHaveLength(1);
    } finally {
      await cold.close();
      await flaky.close();
    }
  });

  it('starts from the copy when the source sends a supergraph that does not load', async () => {
    const cacheFile = join(mkdtempSync(join(tmpdir(), 'gw-url-copy-')), 'copy.graphql');
    writeFileSync(cacheFile, v2);
    const broken = await startSupergraphHttpServer('type Query { hello: String }');
    const cold = await startTestGateway({
      supergraph: { source: 'url', url: { url: broken.url, pollIntervalMs: 50 }, cacheFile },
      server: { readinessDetail: true },
    });
    try {
      expect((await postGraphql(cold.graphqlUrl, { query: CAPACITY })).status).toBe(200);
      expect((await ready(cold)).supergraph.source.usingCachedCopy).toBe(true);
      // The refused file is revalidated by its ETag, not fetched and refused again on every poll.
      expect(await eventually(() => broken.counts.notModified >= 3)).toBe(true);
      expect(broken.counts.ok).toBe(1);
      expect(await fetches(cold, 'rejected')).toBe(1);
      expect(await fetches(cold, 'updated')).toBe(0);
      const { source } = (await ready(cold)).supergraph;
      expect(source.usingCachedCopy).toBe(true);
      expect(source.lastError?.message).toBeDefined();
      expect(readFileSync(cacheFile, 'utf8')).toBe(v2);
      expect((await postGraphql(cold.graphqlUrl, { query: CAPACITY })).status).toBe(200);
      expect((await ready(cold)).supergraph.source.usingCachedCopy).toBe(true);
    } finally {
      await cold.close();
      await broken.close();
    }
  });

  it('never follows a redirect out of HTTP (a data: URL would have served its own supergraph)', async () => {
    const server = createServer((_req, res) => res.writeHead(302, { location: `data:text/plain,${encodeURIComponent(v1)}` }).end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const config = loadConfig({
        env: {},
        overrides: {
          server: { host: '127.0.0.1', port: 0 },
          metrics: { defaultMetrics: false },
          supergraph: {
            source: 'url',
            url: { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/supergraph`, pollIntervalMs: 60_000 },
            cacheFile: join(mkdtempSync(join(tmpdir(), 'gw-url-data-')), 'never-written.graphql'),
          },
        },
      });
      const gateway = createGateway(config, { logDestination: new LogCapture() });
      const started = gateway.start();
      await expect(started).rejects.toMatchObject({ code: 'SUPERGRAPH_SOURCE_UNAVAILABLE' });
      expect(gateway.phase).toBe('stopped');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('refuses to start with SUPERGRAPH_SOURCE_UNAVAILABLE when the source is unreachable and there is no copy', async () => {
    const cacheFile = join(mkdtempSync(join(tmpdir(), 'gw-url-copy-')), 'never-written.graphql');
    const config = loadConfig({
      env: {},
      overrides: {
        server: { host: '127.0.0.1', port: 0 },
        metrics: { defaultMetrics: false },
        supergraph: { source: 'url', url: { url: await deadUrl(), pollIntervalMs: 50 }, cacheFile },
      },
    });
    const logs = new LogCapture();
    const gateway = createGateway(config, { logDestination: logs });
    const started = gateway.start();
    await expect(started).rejects.toMatchObject({ code: 'SUPERGRAPH_SOURCE_UNAVAILABLE' });
    expect(gateway.phase).toBe('stopped');
    const line = logs.find((l) => l.code === 'SUPERGRAPH_SOURCE_UNAVAILABLE');
    expect(line).toHaveLength(1);
    expect(line[0]).toMatchObject({
      level: 50,
      cacheFile,
      msg: 'supergraph source failed at start and there is no last good copy on disk: the gateway cannot start',
    });
    await expect(started).rejects.toThrow(`no last good copy at ${cacheFile}`);
    expect(existsSync(cacheFile)).toBe(false);
  });
});

describe('the size limit', () => {
  it('refuses an answer over supergraph.maxBytes as a failed fetch', async () => {
    const store = await startSupergraphHttpServer(v2);
    const config = loadConfig({
      env: {},
      overrides: {
        server: { host: '127.0.0.1', port: 0 },
        metrics: { defaultMetrics: false },
        supergraph: { source: 'url', url: { url: store.url }, maxBytes: 1_000 },
      },
    });
    const gateway = createGateway(config, { logDestination: new LogCapture() });
    try {
      await expect(gateway.start()).rejects.toThrow(`over supergraph.maxBytes (1000)`);
      expect(v2.length).toBeGreaterThan(1_000);
    } finally {
      await store.close();
    }
  });
});

describe('a reload through the admin API', () => {
  it('fetches from the source now, without waiting for the next poll', async () => {
    const tokenEnv = `TEST_SOURCES_ADMIN_TOKEN_${process.pid}`;
    process.env[tokenEnv] = 'admin-token-of-the-sources-test';
    const store = await startSupergraphHttpServer(v1);
    const slow = await startTestGateway({
      supergraph: { source: 'url', url: { url: store.url, pollIntervalMs: 3_600_000 } },
      admin: { port: 0, tokens: [{ name: 'oncall', env: tokenEnv }] },
    });
    try {
      const admin = String(slow.logs.find((line) => line.msg === 'admin API listening')[0]?.url);
      const reload = async () => {
        const response = await fetch(`${admin}/admin/reload`, {
          method: 'POST',
          headers: { authorization: `Bearer ${process.env[tokenEnv]}` },
        });
        return { status: response.status, body: (await response.json()) as { result: string } };
      };
      expect(await reload()).toMatchObject({ status: 200, body: { result: 'unchanged' } });
      expect(store.counts).toEqual({ ok: 1, notModified: 1, failed: 0 });
      store.publish(v2);
      expect(await reload()).toMatchObject({ status: 200, body: { result: 'reloaded' } });
      expect((await postGraphql(slow.graphqlUrl, { query: CAPACITY })).status).toBe(200);
      store.failWith(500);
      expect(await reload()).toMatchObject({ status: 422, body: { error: 'SUPERGRAPH_RELOAD_FAILED' } });
      expect((await postGraphql(slow.graphqlUrl, { query: CAPACITY })).status).toBe(200);
    } finally {
      await slow.close();
      await store.close();
      delete process.env[tokenEnv];
    }
  });
});

describe('the supergraph source config', () => {
  const load = (supergraph: Record<string, unknown>) => () => loadConfig({ env: {}, overrides: { supergraph } as never });

  it('refuses a url source without a URL, a URL that is not HTTP, and an auth header without its secret', () => {
    expect(load({ source: 'url' })).toThrow('supergraph.url: the url source needs supergraph.url.url');
    expect(load({ source: 'url', url: { url: 'ftp://cdn.example/supergraph' } })).toThrow('must be an http:// or https:// URL');
    expect(load({ source: 'url', url: { url: 'https://cdn.example/supergraph', authHeader: { name: 'X-Hive-CDN-Key' } } })).toThrow(
      'give exactly one of env and file',
    );
  });

  it('keeps the file source the default, with the Uplink endpoints of Apollo GraphOS ready for the uplink source', () => {
    const config = loadConfig({ env: {} });
    expect(config.supergraph.source).toBe('file');
    expect(config.supergraph.uplink).toEqual({
      apiKeyEnv: 'APOLLO_KEY',
      endpoints: ['https://uplink.api.apollographql.com/', 'https://aws.uplink.api.apollographql.com/'],
      pollIntervalMs: 10_000,
      timeoutMs: 30_000,
    });
  });
});
