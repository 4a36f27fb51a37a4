import { connect } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../gateway/src/config/index.js';
import { ERRORS } from '../gateway/src/errors.js';
import { createGateway } from '../gateway/src/server.js';
import { postGraphql, startTestGateway, type TestGateway } from './helpers/gateway.js';
import { LogCapture } from './helpers/logs.js';
import { sleep, useTinySubgraph, writeTinySupergraph } from './helpers/tiny-subgraph.js';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

const tiny = useTinySubgraph();

function metricValue(text: string, name: string, labels: Record<string, string>): number | undefined {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (wanted.every((pair) => line.includes(pair))) return Number(line.split(' ').at(-1));
  }
  return undefined;
}

describe('health and readiness', () => {
  it('is live before the supergraph is loaded, ready only after, and answers GraphQL with 503 meanwhile', async () => {
    const config = loadConfig({
      env: {},
      overrides: {
        // The detail of /ready (supergraph, subgraphs, Redis) is behind server.readinessDetail.
        server: { host: '127.0.0.1', port: 0, readinessDetail: true },
        supergraph: { path: tiny.supergraphPath, watch: false },
        metrics: { defaultMetrics: false },
      },
    });
    const gateway = createGateway(config, { logDestination: new LogCapture() });
    try {
      await gateway.listen();
      expect((await fetch(`${gateway.url}/health`)).status).toBe(200);

      const notReady = await fetch(`${gateway.url}/ready`);
      expect(notReady.status).toBe(503);
      expect(await notReady.json()).toMatchObject({ status: 'not_ready', phase: 'starting', supergraph: null });

      const early = await postGraphql(`${gateway.url}/graphql`, { query: '{ warehouses { code } }' });
      expect(early.status).toBe(503);
      expect(early.body.errors?.[0]?.extensions?.code).toBe('SUPERGRAPH_NOT_LOADED');

      await gateway.load();
      const ready = await fetch(`${gateway.url}/ready`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({
        status: 'ready',
        phase: 'ready',
        supergraph: { path: tiny.supergraphPath },
        subgraphs: [{ name: 'inventory', url: tiny.subgraph.url }],
        redis: { status: 'not_configured' },
      });
    } finally {
      await gateway.close();
    }
  });

  it('refuses to start on a supergraph file that is missing or invalid', async () => {
    for (const path of ['/nonexistent/supergraph.graphql', new URL(import.meta.url).pathname]) {
      const config = loadConfig({ env: {}, overrides: { server: { host: '127.0.0.1', port: 0 }, supergraph: { path } } });
      const gateway = createGateway(config, { logDestination: new LogCapture() });
      await expect(gateway.start()).rejects.toThrow();
      expect(gateway.phase).toBe('stopped');
    }
  });

  it('reports each subgraph with the last success and failure it saw', async () => {
    const deadSupergraph = writeTinySupergraph('http://127.0.0.1:9/graphql');
    const gw = await startTestGateway({ supergraph: { path: deadSupergraph, watch: false }, server: { readinessDetail: true } });
    try {
      const failed = await postGraphql(gw.graphqlUrl, { query: '{ warehouses { code } }' });
      expect(failed.status).toBe(200);
      expect(failed.body.data).toBeNull();
      expect(failed.body.errors).toHaveLength(1);
      expect(failed.body.errors?.[0]).toMatchObject({
        message: 'Subgraph "inventory" is unavailable.',
        extensions: { code: 'SUBGRAPH_UNAVAILABLE', subgraph: 'inventory' },
      });
      expect(JSON.stringify(failed.body)).not.toContain('127.0.0.1');
      const ready = (await (await fetch(`${gw.url}/ready`)).json()) as { subgraphs: Record<string, unknown>[] };
      expect(ready.subgraphs).toHaveLength(1);
      expect(ready.subgraphs[0]).toMatchObject({ name: 'inventory', url: 'http://127.0.0.1:9/graphql' });
      expect(ready.subgraphs[0]?.lastFailureAt).toEqual(expect.any(String));
      expect(ready.subgraphs[0]?.lastSuccessAt).toBeUndefined();
    } finally {
      await gw.close();
    }
  });
});

describe('metrics', () => {
  let gw: TestGateway;

  beforeAll(async () => {
    gw = await startTestGateway({
      supergraph: { path: tiny.supergraphPath, watch: false },
      metrics: { maxOperationLabels: 3, defaultMetrics: true },
    });
  });

  afterAll(async () => {
    await gw?.close();
  });

  it('counts requests by operation and outcome, subgraph calls by subgraph, and exports Node defaults', async () => {
    for (let i = 0; i < 3; i++) await postGraphql(gw.graphqlUrl, { query: 'query Stock { warehouses { code } }' });
    await postGraphql(gw.graphqlUrl, { query: '{ nope }' });
    await fetch(gw.graphqlUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' });

    const response = await fetch(`${gw.url}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await response.text();

    expect(metricValue(text, 'gateway_requests_total', { operation: 'Stock', type: 'query', outcome: 'success' })).toBe(3);
    expect(metricValue(text, 'gateway_request_duration_seconds_count', { operation: 'Stock', outcome: 'success' })).toBe(3);
    // Rejected before an operation was resolved: no operation name, client_error.
    expect(metricValue(text, 'gateway_requests_total', { operation: '(none)', outcome: 'client_error' })).toBe(2);
    expect(metricValue(text, 'gateway_subgraph_requests_total', { subgraph: 'inventory', result: 'success' })).toBe(3);
    expect(metricValue(text, 'gateway_subgraph_request_duration_seconds_count', { subgraph: 'inventory' })).toBe(3);
    expect(text).toContain('process_cpu_user_seconds_total');
    expect(text).toContain('nodejs_eventloop_lag_seconds');
  });

  it('bounds the number of operation-name label values, so clients cannot explode cardinality', async () => {
    for (const name of ['A1', 'A2', 'A3', 'A4', 'A5']) {
      await postGraphql(gw.graphqlUrl, { query: `query ${name} { warehouses { code } }` });
    }
    const text = await (await fetch(`${gw.url}/metrics`)).text();
    const operations = new Set([...text.matchAll(/^gateway_requests_total\{[^}]*operation="([^"]+)"/gm)].map((m) => m[1]));
    // Three names were allowed (Stock, (none), A1); everything after is __other__.
    expect(operations).toEqual(new Set(['Stock', '(none)', 'A1', '__other__']));
    expect(metricValue(text, 'gateway_requests_total', { operation: '__other__', outcome: 'success' })).toBe(4);
  });
});

describe('redis connection', () => {
  it('connects when configured, reports it in /ready, and closes its connection on shutdown', async () => {
    const observer = new Redis(REDIS_URL);
    const clientList = async () => String(await observer.client('LIST'));
    const gw = await startTestGateway({
      supergraph: { path: tiny.supergraphPath, watch: false },
      redis: { url: REDIS_URL, keyPrefix: `test:ops:${process.pid}:` },
      server: { readinessDetail: true },
    });
    const name = `gateway:${gw.gateway.instanceId}`;
    try {
      const deadline = Date.now() + 5_000;
      let ready: { redis: { status: string } } | undefined;
      while (Date.now() < deadline) {
        ready = (await (await fetch(`${gw.url}/ready`)).json()) as { redis: { status: string } };
        if (ready.redis.status === 'ready') break;
        await sleep(50);
      }
      expect(ready?.redis.status).toBe('ready');
      expect(await clientList()).toContain(`name=${name}`);
    } finally {
      await gw.close();
    }
    const deadline = Date.now() + 2_000;
    while (Date.now() < deadline && (await clientList()).includes(`name=${name}`)) {
      await sleep(25);
    }
    expect(await clientList()).not.toContain(`name=${name}`);
    await observer.quit();
  });

  it('starts and serves when the configured Redis is unreachable, without hanging', async () => {
    const gw = await startTestGateway({
      supergraph: { path: tiny.supergraphPath, watch: false },
      redis: { url: 'redis://127.0.0.1:1', connectTimeoutMs: 200 },
      server: { readinessDetail: true },
    });
    try {
      const result = await postGraphql(gw.graphqlUrl, { query: '{ warehouses { code } }' });
      expect(result.status).toBe(200);
      const ready = (await (await fetch(`${gw.url}/ready`)).json()) as { status: string; redis: { status: string } };
      expect(ready.status).toBe('ready');
      expect(ready.redis.status).not.toBe('ready');
    } finally {
      await gw.close();
    }
  });
});

describe('draining', () => {
  it('answers a request that arrives on an open connection during shutdown with 503 SHUTTING_DOWN', async () => {
    const gw = await startTestGateway({ supergraph: { path: tiny.supergraphPath, watch: false } });
    const socket = connect(Number(new URL(gw.url).port), '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('utf8')));
    const slow = postGraphql(gw.graphqlUrl, { query: '{ slow(ms: 400) }' });
    await sleep(100);

    const closing = gw.close();
    socket.write('GET /health HTTP/1.1\r\nHost: gateway\r\nx-request-id: late-1\r\n\r\n');
    await new Promise((resolve) => socket.once('close', resolve));

    expect(received).toMatch(/^HTTP\/1\.1 503 /);
    expect(received.toLowerCase()).toContain('connection: close');
    const body = JSON.parse(received.slice(received.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>;
    expect(body).toEqual({ error: 'SHUTTING_DOWN', message: ERRORS.SHUTTING_DOWN.message, request_id: 'late-1' });
    expect((await slow).status).toBe(200);
    await closing;
  });
});
