import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../gateway/src/config/index.js';
import { ERRORS } from '../gateway/src/errors.js';
import { startTestGateway, type TestGateway } from './helpers/gateway.js';
import { openRaw, rawRequest } from './helpers/raw-http.js';
import { sleep, useTinySubgraph } from './helpers/tiny-subgraph.js';

/**
 * Slow-client protection (docs/security.md): header and request timeouts, keep-alive limits, the
 * connection cap and the in-flight cap, driven with raw sockets against a real gateway. Bounds are
 * generous (a loaded 2-core machine); each one is far below what the default would take.
 */
const tiny = useTinySubgraph();

const GET_HEALTH = 'GET /health HTTP/1.1\r\nhost: gw\r\n\r\n';

async function metric(url: string, series: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.split(' ')[1]) : 0;
}

function slowQuery(graphqlUrl: string, ms: number, signal?: AbortSignal) {
  return fetch(graphqlUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: `{ slow(ms: ${ms}) }` }),
    signal,
  });
}

describe('header and body timeouts', () => {
  let gw: TestGateway;

  beforeAll(async () => {
    gw = await startTestGateway({
      supergraph: { path: tiny.supergraphPath, watch: false },
      server: { headersTimeoutMs: 1_000, requestTimeoutMs: 2_000 },
    });
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('cuts a slowloris that trickles header lines: 408 REQUEST_TIMEOUT, connection closed', async () => {
    const before = await metric(gw.url, 'gateway_http_rejections_total{reason="request_timeout"}');
    const connection = await openRaw(gw.url);
    connection.write('POST /graphql HTTP/1.1\r\nhost: gw\r\n');
    // One header line every 200 ms: each byte resets an idle timer, not the header deadline.
    for (let i = 0; i < 40 && !connection.socket.destroyed; i++) {
      connection.write(`x-trickle-${i}: a\r\n`);
      await sleep(200);
    }
    const { afterMs, byServer } = await connection.closed;
    expect(byServer).toBe(true);
    expect(afterMs).toBeLessThan(6_000);
    const [response] = await connection.responses(1);
    expect(response?.status).toBe(408);
    expect(response?.headers.connection).toBe('close');
    expect(response?.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    // The request line came in its own packet, so its target is unknown: the GraphQL format (README "The HTTP edge").
    expect(JSON.parse(response?.body ?? '')).toEqual({
      errors: [{ message: ERRORS.REQUEST_TIMEOUT.message, extensions: { code: 'REQUEST_TIMEOUT' } }],
    });
    expect(await metric(gw.url, 'gateway_http_rejections_total{reason="request_timeout"}')).toBe(before + 1);
  });

  it('cuts a body trickled slower than server.requestTimeoutMs: 408 REQUEST_TIMEOUT', async () => {
    const connection = await openRaw(gw.url);
    const body = JSON.stringify({ query: '{ warehouses { code } }' });
    connection.write(`POST /graphql HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n`);
    for (let i = 0; i < body.length - 1 && !connection.socket.destroyed; i++) {
      connection.write(body[i] as string);
      await sleep(150);
    }
    const { afterMs, byServer } = await connection.closed;
    expect(byServer).toBe(true);
    expect(afterMs).toBeLessThan(7_000);
    const [response] = await connection.responses(1);
    expect(response?.status).toBe(408);
    // On the GraphQL path: a GraphQL response.
    expect(JSON.parse(response?.body ?? '')).toEqual({
      errors: [{ message: ERRORS.REQUEST_TIMEOUT.message, extensions: { code: 'REQUEST_TIMEOUT' } }],
    });
  });

  it('does not cut a request whose answer takes longer than server.requestTimeoutMs (only the upload is timed)', async () => {
    const response = await slowQuery(gw.graphqlUrl, 2_500);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ data: { slow: 'waited 2500ms' } });
  });

  it('answers headers over server.maxHeaderBytes with 431 HEADERS_TOO_LARGE, and unparsable HTTP with 400 BAD_REQUEST', async () => {
    const big = await rawRequest(gw.url, `GET /health HTTP/1.1\r\nhost: gw\r\nauthorization: Bearer ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(big.status).toBe(431);
    expect(JSON.parse(big.body)).toMatchObject({ error: 'HEADERS_TOO_LARGE', message: ERRORS.HEADERS_TOO_LARGE.message });

    const nul = await rawRequest(gw.url, 'GET /health HTTP/1.1\r\nhost: gw\r\nx-name: a\u0000b\r\n\r\n');
    expect(nul.status).toBe(400);
    expect(JSON.parse(nul.body)).toMatchObject({ error: 'BAD_REQUEST', message: ERRORS.BAD_REQUEST.message });

    // The gateway is unaffected.
    expect((await fetch(`${gw.url}/health`)).status).toBe(200);
  });
});

describe('keep-alive limits', () => {
  let gw: TestGateway;

  beforeAll(async () => {
    gw = await startTestGateway({
      supergraph: { path: tiny.supergraphPath, watch: false },
      server: { keepAliveTimeoutMs: 500, maxRequestsPerSocket: 3 },
    });
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('closes an idle keep-alive connection after server.keepAliveTimeoutMs', async () => {
    const connection = await openRaw(gw.url);
    connection.write(GET_HEALTH);
    const [response] = await connection.responses(1);
    expect(response?.status).toBe(200);
    expect(response?.headers.connection).toBe('keep-alive');
    const { byServer } = await Promise.race([connection.closed, sleep(8_000).then(() => ({ byServer: false, afterMs: -1 }))]);
    connection.destroy();
    expect(byServer).toBe(true);
  });

  it('answers the server.maxRequestsPerSocket-th request on a connection with `connection: close`, then closes it', async () => {
    const connection = await openRaw(gw.url);
    const seen: string[] = [];
    for (let i = 1; i <= 3; i++) {
      connection.write(GET_HEALTH);
      const responses = await connection.responses(i);
      expect(responses[i - 1]?.status).toBe(200);
      seen.push(responses[i - 1]?.headers.connection ?? '');
    }
    expect(seen).toEqual(['keep-alive', 'keep-alive', 'close']);
    const { byServer } = await connection.closed;
    expect(byServer).toBe(true);
  });
});

describe('connection and in-flight caps', () => {
  let gw: TestGateway;

  beforeAll(async () => {
    gw = await startTestGateway({
      supergraph: { path: tiny.supergraphPath, watch: false },
      server: { maxInFlightRequests: 2, overloadRetryAfterSeconds: 3, maxConnections: 6 },
    });
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('over server.maxInFlightRequests answers 503 OVERLOADED with Retry-After, probes still answer, held requests complete', async () => {
    const subgraphCalls = tiny.subgraph.receivedHeaders.length;
    const held = [slowQuery(gw.graphqlUrl, 1_500), slowQuery(gw.graphqlUrl, 1_500)];
    for (let i = 0; i < 100 && (await metric(gw.url, 'gateway_http_in_flight_requests')) < 2; i++) await sleep(20);
    expect(await metric(gw.url, 'gateway_http_in_flight_requests')).toBe(2);

    const refused = await fetch(gw.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer not-even-a-jwt' },
      body: JSON.stringify({ query: '{ warehouses { code } }' }),
    });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('3');
    expect(refused.headers.get('x-request-id')).toBeTruthy();
    // Answered before auth: the garbage bearer token would otherwise be a 401.
    expect(await refused.json()).toEqual({ errors: [{ message: ERRORS.OVERLOADED.message, extensions: { code: 'OVERLOADED' } }] });
    const rest = await fetch(`${gw.url}/nowhere`);
    expect(rest.status).toBe(503);
    expect(await rest.json()).toMatchObject({ error: 'OVERLOADED' });

    for (const probe of ['/health', '/ready', '/metrics']) expect((await fetch(`${gw.url}${probe}`)).status).toBe(200);

    const answers = await Promise.all(held);
    for (const answer of answers) {
      expect(answer.status).toBe(200);
      expect(await answer.json()).toMatchObject({ data: { slow: 'waited 1500ms' } });
    }
    // The refused one never reached the subgraph (the held ones may share one call: dedupe).
    expect(tiny.subgraph.receivedHeaders.length - subgraphCalls).toBeLessThanOrEqual(2);
    expect(await metric(gw.url, 'gateway_http_rejections_total{reason="overloaded"}')).toBe(2);
    expect(gw.logs.find((l) => l.msg === 'unhandled error')).toEqual([]);

    // Slots are released: a request now succeeds.
    const after = await fetch(gw.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ warehouses { code } }' }),
    });
    expect(after.status).toBe(200);
  });

  it('releases the slot of a request whose client went away', async () => {
    const controller = new AbortController();
    const aborted = slowQuery(gw.graphqlUrl, 1_000, controller.signal).catch(() => 'aborted');
    for (let i = 0; i < 100 && (await metric(gw.url, 'gateway_http_in_flight_requests')) < 1; i++) await sleep(20);
    controller.abort();
    expect(await aborted).toBe('aborted');
    for (let i = 0; i < 100 && (await metric(gw.url, 'gateway_http_in_flight_requests')) > 0; i++) await sleep(20);
    expect(await metric(gw.url, 'gateway_http_in_flight_requests')).toBe(0);
  });

  it('closes a connection over server.maxConnections as soon as it is accepted; the others keep working', async () => {
    // fetch's pooled connections from earlier tests may still be open: close them before counting.
    gw.gateway.app.server.closeIdleConnections();
    await sleep(100);
    const open: Awaited<ReturnType<typeof openRaw>>[] = [];
    try {
      for (let i = 0; i < 6; i++) open.push(await openRaw(gw.url));
      await sleep(100);
      const extra = await openRaw(gw.url);
      open.push(extra);
      const { byServer } = await Promise.race([extra.closed, sleep(5_000).then(() => ({ byServer: false, afterMs: -1 }))]);
      expect(byServer).toBe(true);
      expect(extra.received).toBe('');

      const first = open[0];
      first?.write(GET_HEALTH);
      expect((await first?.responses(1))?.[0]?.status).toBe(200);
    } finally {
      for (const connection of open) connection.destroy();
    }
    await sleep(100);
    expect(await metric(gw.url, 'gateway_http_rejections_total{reason="connection_limit"}')).toBeGreaterThanOrEqual(1);
  });
});

describe('config', () => {
  it('refuses a header timeout longer than the request timeout, naming the key', () => {
    expect(() => loadConfig({ env: {}, overrides: { server: { headersTimeoutMs: 5_000, requestTimeoutMs: 1_000 } } })).toThrow(
      /server\.headersTimeoutMs: must not be longer than server\.requestTimeoutMs/,
    );
  });
});
