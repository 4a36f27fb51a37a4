import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigSchema } from '../gateway/src/config/index.js';
import { ERRORS, type ErrorCode } from '../gateway/src/errors.js';
import { startTestGateway, type TestGateway } from './helpers/gateway.js';
import { filler, openRaw, rawRequest, rawUpload, type RawResponse } from './helpers/raw-http.js';
import { sleep, useTinySubgraph } from './helpers/tiny-subgraph.js';

/**
 * The HTTP edge (README "Security" → "The HTTP edge"): every hostile or malformed request gets an
 * answer the client can read, in the error format of its path. Everything here is raw bytes over
 * node:net, read back from the socket.
 */
const tiny = useTinySubgraph();
const MB = 1_048_576;
const QUERY_TEXT = '{ warehouses { code } }';
const QUERY = JSON.stringify({ query: QUERY_TEXT });
const DATA = { data: { warehouses: [{ code: 'AMS' }, { code: 'LIS' }] } };

/** A GraphQL error answer: exactly `{"errors": [{"message", "extensions": {"code"}}]}`, with a registered code and its status. */
function expectGraphqlError(response: RawResponse | undefined, code: ErrorCode): void {
  expect(response, 'an answer was read').toBeDefined();
  expect(response?.status).toBe(ERRORS[code].status);
  const body = JSON.parse(response?.body ?? '') as Record<string, unknown>;
  expect(Object.keys(body)).toEqual(['errors']);
  expect(body.errors).toEqual([{ message: expect.any(String), extensions: { code } }]);
  expect(response?.headers['x-request-id']).toBeTruthy();
}

function expectRestError(response: RawResponse | undefined, code: ErrorCode): void {
  expect(response?.status).toBe(ERRORS[code].status);
  const requestId = response?.headers['x-request-id'];
  expect(JSON.parse(response?.body ?? '')).toEqual({ error: code, message: expect.any(String), request_id: requestId });
}

/** `data` in 64 KB pieces a few ms apart: the client is still writing when the server answers. */
async function* paced(data: Buffer): AsyncGenerator<Buffer> {
  for (let at = 0; at < data.length; at += 65_536) {
    yield data.subarray(at, at + 65_536);
    await sleep(3);
  }
}

const post = (length: number | 'chunked', extra = '') =>
  `POST /graphql HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\n${
    length === 'chunked' ? 'transfer-encoding: chunked' : `content-length: ${length}`
  }\r\n${extra}\r\n`;

describe('with the default config', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({ supergraph: { path: tiny.supergraphPath, watch: false } });
  });
  afterAll(async () => {
    await gw?.close();
  });

  describe('an answer sent before the body arrived is read, not reset (lingering close)', () => {
    it('10 MB with its Content-Length, connection: close: 413, and every byte is written without EPIPE or ECONNRESET', async () => {
      const result = await rawUpload(gw.url, post(10 * MB, 'connection: close\r\n'), filler(10 * MB));
      expectGraphqlError(result.response, 'PAYLOAD_TOO_LARGE');
      expect(result.response?.headers.connection).toBe('close');
      expect(result.error).toBeUndefined();
      expect(result.written).toBe(10 * MB);
    });

    it('the same on a keep-alive connection: the body is drained and the connection serves the next request', async () => {
      const connection = await openRaw(gw.url);
      connection.write(post(10 * MB));
      for (const chunk of filler(10 * MB)) {
        if (!connection.socket.write(chunk)) await new Promise((r) => connection.socket.once('drain', r));
      }
      connection.write(`${post(QUERY.length)}${QUERY}`);
      const [refused, served] = await connection.responses(2);
      connection.destroy();
      expectGraphqlError(refused, 'PAYLOAD_TOO_LARGE');
      expect(refused?.headers.connection).toBe('keep-alive');
      expect(served?.status).toBe(200);
      expect(JSON.parse(served?.body ?? '')).toEqual(DATA);
    });

    for (const size of [50, 120]) {
      it(`${size} MB streamed (chunked): 413 at the limit, and the client sends it all and reads the answer`, async () => {
        const body = filler(size * MB, { chunked: true });
        const result = await rawUpload(gw.url, post('chunked', 'connection: close\r\n'), body, { timeoutMs: 60_000 });
        expectGraphqlError(result.response, 'PAYLOAD_TOO_LARGE');
        expect(result.error).toBeUndefined();
        expect(result.written).toBeGreaterThan(size * MB);
      });
    }

    it('a 1 MB string literal in a query: 413', async () => {
      const body = JSON.stringify({ query: `{ warehouses(filter: "${'x'.repeat(MB)}") { code } }` });
      const result = await rawUpload(gw.url, post(body.length, 'connection: close\r\n'), paced(Buffer.from(body)));
      expectGraphqlError(result.response, 'PAYLOAD_TOO_LARGE');
      expect(result.error).toBeUndefined();
    });

    it('a 1 MB header value: 431 HEADERS_TOO_LARGE in the GraphQL format, and the client sends it all and reads the answer', async () => {
      const rest = `\r\ncontent-type: application/json\r\ncontent-length: ${QUERY.length}\r\n\r\n${QUERY}`;
      const header = Buffer.concat([Buffer.alloc(MB, 'a'), Buffer.from(rest)]);
      const result = await rawUpload(gw.url, 'POST /graphql HTTP/1.1\r\nhost: gw\r\nx-big: ', paced(header));
      expectGraphqlError(result.response, 'HEADERS_TOO_LARGE');
      expect(result.error).toBeUndefined();
      expect(result.written).toBeGreaterThan(MB);
      expect((await fetch(`${gw.url}/health`)).status).toBe(200);
    });

    it('Expect: 100-continue: a body declared too large gets 413 and no 100 Continue; an ordinary one 100, then its answer', async () => {
      const refused = await openRaw(gw.url);
      refused.write(post(10 * MB, 'expect: 100-continue\r\n'));
      const [answer] = await refused.responses(1);
      refused.destroy();
      expect(refused.received.startsWith('HTTP/1.1 413 ')).toBe(true);
      expectGraphqlError(answer, 'PAYLOAD_TOO_LARGE');

      const served = await openRaw(gw.url);
      served.write(post(QUERY.length, 'expect: 100-continue\r\n'));
      for (let i = 0; i < 100 && !served.received.includes('\r\n\r\n'); i++) await sleep(20);
      expect(served.received).toBe('HTTP/1.1 100 Continue\r\n\r\n');
      served.write(QUERY);
      for (let i = 0; i < 100 && !served.received.includes('"data"'); i++) await sleep(20);
      served.destroy();
      expect(served.received).toContain('HTTP/1.1 200 OK');
      expect(served.received).toContain(JSON.stringify(DATA));
    });
  });

  describe('every answer on the GraphQL path is a GraphQL response, whatever refused it', () => {
    const head = (lines: string) => `POST /graphql HTTP/1.1\r\n${lines}`;
    const withQuery = (lines: string) => `${head(lines)}content-length: ${QUERY.length}\r\n\r\n${QUERY}`;
    const json = 'content-type: application/json\r\n';
    const chunked = 'transfer-encoding: chunked\r\n\r\n';
    const headerLines = Array.from({ length: 1_500 }, (_, i) => `x-h${i}: ${'v'.repeat(20)}\r\n`).join('');
    const cases: [string, string, ErrorCode][] = [
      ['a 20 KB query string', `GET /graphql?query=${'a'.repeat(20_000)} HTTP/1.1\r\nhost: gw\r\n\r\n`, 'HEADERS_TOO_LARGE'],
      ['a 64 KB token', head(`host: gw\r\nauthorization: Bearer ${'a'.repeat(65_536)}\r\n\r\n`), 'HEADERS_TOO_LARGE'],
      ['a header bomb', head(`host: gw\r\n${headerLines}\r\n`), 'HEADERS_TOO_LARGE'],
      ['a NUL byte in a header', head('host: gw\r\nx-name: a\u0000b\r\ncontent-length: 2\r\n\r\n{}'), 'BAD_REQUEST'],
      ['an invalid header name', head('host: gw\r\nx name: b\r\ncontent-length: 2\r\n\r\n{}'), 'BAD_REQUEST'],
      ['Content-Length and Transfer-Encoding', head(`host: gw\r\ncontent-length: 5\r\n${chunked}0\r\n\r\n`), 'BAD_REQUEST'],
      ['two Content-Lengths', head('host: gw\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\n{}'), 'BAD_REQUEST'],
      ['a bad chunk', head(`host: gw\r\n${json}${chunked}zz\r\n{}\r\n0\r\n\r\n`), 'BAD_REQUEST'],
      ['an unknown method', 'FOO /graphql HTTP/1.1\r\nhost: gw\r\n\r\n', 'BAD_REQUEST'],
      ['TRACE', 'TRACE /graphql HTTP/1.1\r\nhost: gw\r\n\r\n', 'METHOD_NOT_ALLOWED'],
      ['CONNECT', 'CONNECT /graphql HTTP/1.1\r\nhost: gw\r\n\r\n', 'METHOD_NOT_ALLOWED'],
      ['no Host (HTTP/1.1)', withQuery(json), 'BAD_REQUEST'],
      ['an Expect other than 100-continue', withQuery(`host: gw\r\n${json}expect: tea\r\n`), 'EXPECTATION_FAILED'],
      ['two Authorization headers', withQuery(`host: gw\r\n${json}authorization: a\r\nauthorization: b\r\n`), 'DUPLICATE_HEADER'],
      ['two Host headers', withQuery(`host: gw\r\nhost: other\r\n${json}`), 'DUPLICATE_HEADER'],
      ['two Content-Types', withQuery(`host: gw\r\n${json}content-type: text/plain\r\n`), 'DUPLICATE_HEADER'],
    ];
    for (const [name, bytes, code] of cases) {
      it(`${name}: ${ERRORS[code].status} ${code}`, async () => {
        expectGraphqlError(await rawRequest(gw.url, Buffer.from(bytes, 'latin1')), code);
      });
    }

    it('the same refusals on another path keep the REST format', async () => {
      expectRestError(await rawRequest(gw.url, `GET /health?q=${'a'.repeat(20_000)} HTTP/1.1\r\nhost: gw\r\n\r\n`), 'HEADERS_TOO_LARGE');
      expectRestError(await rawRequest(gw.url, 'GET /health HTTP/1.1\r\nhost: gw\r\nx name: b\r\n\r\n'), 'BAD_REQUEST');
      const twoAuthorizations = 'GET /nowhere HTTP/1.1\r\nhost: gw\r\nauthorization: a\r\nauthorization: b\r\n\r\n';
      expectRestError(await rawRequest(gw.url, twoAuthorizations), 'DUPLICATE_HEADER');
      expectRestError(await rawRequest(gw.url, 'TRACE /nowhere HTTP/1.1\r\nhost: gw\r\n\r\n'), 'NOT_FOUND');
    });

    it('a request line sent on its own, then too many header bytes: the target is unknown, the GraphQL format (documented)', async () => {
      const result = await rawUpload(
        gw.url,
        'GET /health HTTP/1.1\r\n',
        (async function* () {
          await sleep(100);
          yield Buffer.from(`host: gw\r\nx-big: ${'a'.repeat(30_000)}\r\n\r\n`);
        })(),
      );
      expectGraphqlError(result.response, 'HEADERS_TOO_LARGE');
    });
  });

  describe('Content-Encoding and charset', () => {
    const encoded = (encoding: string, body: Buffer, contentType = 'application/json') =>
      rawRequest(
        gw.url,
        Buffer.concat([
          Buffer.from(
            `POST /graphql HTTP/1.1\r\nhost: gw\r\ncontent-type: ${contentType}\r\ncontent-encoding: ${encoding}\r\n` +
              `content-length: ${body.length}\r\nconnection: close\r\n\r\n`,
          ),
          body,
        ]),
      );

    it('gzip, x-gzip, deflate and br bodies are decompressed and executed', async () => {
      const query = Buffer.from(QUERY);
      const bodies = [
        ['gzip', gzipSync(query)],
        ['X-GZIP', gzipSync(query)],
        ['deflate', deflateSync(query)],
        ['br', brotliCompressSync(query)],
      ] as const;
      for (const [encoding, body] of bodies) {
        const response = await encoded(encoding, body);
        expect(response.status, encoding).toBe(200);
        expect(JSON.parse(response.body)).toEqual(DATA);
      }
    });

    it('gzip with bytes that are not gzip: 400 BODY_DECODING_FAILED', async () => {
      expectGraphqlError(await encoded('gzip', Buffer.from(QUERY)), 'BODY_DECODING_FAILED');
    });

    it('an unknown coding, or a list of codings: 415 UNSUPPORTED_CONTENT_ENCODING', async () => {
      expectGraphqlError(await encoded('bogus', Buffer.from(QUERY)), 'UNSUPPORTED_CONTENT_ENCODING');
      expectGraphqlError(await encoded('gzip, br', brotliCompressSync(gzipSync(QUERY))), 'UNSUPPORTED_CONTENT_ENCODING');
    });

    it('a decompression bomb stops at the body limit with 413, without inflating the rest', async () => {
      const member = gzipSync(Buffer.alloc(MB));
      // 400 gzip members of 1 MiB of zeros each: about 400 KB on the wire, 400 MiB decompressed.
      const bomb = Buffer.concat(Array.from({ length: 400 }, () => member));
      expect(bomb.length).toBeLessThan(MB);
      const cpu = process.cpuUsage();
      expectGraphqlError(await encoded('gzip', bomb), 'PAYLOAD_TOO_LARGE');
      await sleep(200);
      const used = process.cpuUsage(cpu);
      // Inflating all of it takes about a second of CPU on the machine this was written on; a few MiB take milliseconds.
      expect((used.user + used.system) / 1_000).toBeLessThan(400);
    });

    it('a charset other than UTF-8: 415 UNSUPPORTED_MEDIA_TYPE; UTF-8 however written is served', async () => {
      for (const charset of ['bogus', 'utf-16', 'iso-8859-1']) {
        expectGraphqlError(await encoded('identity', Buffer.from(QUERY), `application/json; charset=${charset}`), 'UNSUPPORTED_MEDIA_TYPE');
      }
      for (const charset of ['utf-8', 'UTF-8', '"utf-8"', 'utf8']) {
        expect((await encoded('identity', Buffer.from(QUERY), `application/json; charset=${charset}`)).status, charset).toBe(200);
      }
    });
  });

  describe('an upgrade request nobody takes is answered, not left hanging', () => {
    const upgrade = (path: string) =>
      `GET ${path} HTTP/1.1\r\nhost: gw\r\nconnection: Upgrade\r\nupgrade: websocket\r\n` +
      `sec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`;

    it('to a path no route serves: the REST 404, and the connection closes', async () => {
      const connection = await openRaw(gw.url);
      try {
        connection.write(upgrade('/nowhere'));
        const [response] = await connection.responses(1, 5_000);
        expectRestError(response, 'NOT_FOUND');
        expect((await connection.closed).byServer).toBe(true);
      } finally {
        connection.destroy();
      }
    });
  });

  describe("CSRF prevention on GET (Apollo Server's rule)", () => {
    const get = (headers: string) =>
      rawRequest(gw.url, `GET /graphql?query=${encodeURIComponent(QUERY_TEXT)} HTTP/1.1\r\nhost: gw\r\n${headers}\r\n`);

    it('a GET with a Content-Type no cross-site form or simple request can send is served without a preflight header', async () => {
      const response = await get('content-type: application/json\r\n');
      expect(response.status).toBe(200);
      expect(JSON.parse(response.body)).toEqual(DATA);
    });

    it('a GET with no Content-Type, or one a browser sends cross-site, still needs a preflight header', async () => {
      expectGraphqlError(await get(''), 'CSRF_PREVENTED');
      for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
        expectGraphqlError(await get(`content-type: ${type}\r\n`), 'CSRF_PREVENTED');
      }
      expect((await get('graphql-preflight: 1\r\n')).status).toBe(200);
    });
  });

  it('readiness on the public port tells its status only; /health names no subgraph', async () => {
    const ready = await rawRequest(gw.url, 'GET /ready HTTP/1.1\r\nhost: gw\r\n\r\n');
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.body)).toEqual({ status: 'ready', phase: 'ready' });
    const health = await rawRequest(gw.url, 'GET /health HTTP/1.1\r\nhost: gw\r\n\r\n');
    expect(JSON.parse(health.body)).toEqual({ status: 'ok' });
  });
});

describe('with tight bounds', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({
      supergraph: { path: tiny.supergraphPath, watch: false },
      server: {
        lingeringMaxBytes: MB,
        lingeringTimeoutMs: 300,
        lingeringTimeMs: 1_500,
        bodyRateGraceMs: 1_000,
        minBodyRateBytesPerSecond: 500,
        readinessDetail: true,
      },
    });
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('a drain stops after server.lingeringMaxBytes: the client has read its 413 and its next write fails', async () => {
    const result = await rawUpload(gw.url, post('chunked', 'connection: close\r\n'), filler(64 * MB, { chunked: true }));
    expectGraphqlError(result.response, 'PAYLOAD_TOO_LARGE');
    expect(result.error).toMatch(/EPIPE|ECONNRESET/);
    expect(result.written).toBeLessThan(32 * MB);
  });

  it("a drain stops after server.lingeringTimeoutMs without a byte: the client's next bytes meet a closed connection", async () => {
    const result = await rawUpload(
      gw.url,
      post(10 * MB, 'connection: close\r\n'),
      (async function* () {
        yield* filler(2 * MB);
        await sleep(1_000);
        for (let i = 0; i < 40; i++) {
          yield Buffer.alloc(1_024, 'a');
          await sleep(50);
        }
      })(),
    );
    expectGraphqlError(result.response, 'PAYLOAD_TOO_LARGE');
    expect(result.error).toMatch(/EPIPE|ECONNRESET/);
    expect(result.written).toBeLessThan(2 * MB + 40 * 1_024);
  });

  it('a drain stops after server.lingeringTimeMs in all, however steadily the client sends', async () => {
    const result = await rawUpload(
      gw.url,
      post(100 * MB, 'connection: close\r\n'),
      (async function* () {
        for (let i = 0; i < 100; i++) {
          yield Buffer.alloc(16_384, 'a');
          await sleep(100);
        }
      })(),
    );
    expectGraphqlError(result.response, 'PAYLOAD_TOO_LARGE');
    const drained = result.closedAfterMs - (result.answeredAfterMs ?? 0);
    expect(drained).toBeGreaterThanOrEqual(1_400);
    expect(drained).toBeLessThan(4_000);
  });

  it('a body under server.minBodyRateBytesPerSecond: 408 REQUEST_TIMEOUT after the grace period, not at the request timeout', async () => {
    const result = await rawUpload(
      gw.url,
      post(QUERY.length),
      (async function* () {
        for (const byte of Buffer.from(QUERY)) {
          yield Buffer.from([byte]);
          await sleep(250);
        }
      })(),
    );
    expectGraphqlError(result.response, 'REQUEST_TIMEOUT');
    expect(result.closedAfterMs).toBeLessThan(4_000);
  });

  it('a body that keeps above the rate is served, pauses included', async () => {
    const body = JSON.stringify({ query: `# ${'x'.repeat(60_000)}\n{ warehouses { code } }` });
    const result = await rawUpload(
      gw.url,
      post(body.length, 'connection: close\r\n'),
      (async function* () {
        yield Buffer.from(body.slice(0, 40_000));
        await sleep(1_500);
        yield Buffer.from(body.slice(40_000));
      })(),
      { end: false },
    );
    expect(result.response?.status).toBe(200);
    expect(JSON.parse(result.response?.body ?? '')).toEqual(DATA);
  });

  it('server.readinessDetail: /ready and /health tell subgraphs, URLs and breakers', async () => {
    const ready = (await (await fetch(`${gw.url}/ready`)).json()) as { instance: string; subgraphs: { name: string; url: string }[] };
    expect(ready.instance).toBeTruthy();
    expect(ready.subgraphs).toEqual([expect.objectContaining({ name: 'inventory', url: tiny.subgraph.url })]);
  });
});

it('shutdown does not wait for a drain: the draining connection is closed at once', async () => {
  const gw = await startTestGateway({ supergraph: { path: tiny.supergraphPath, watch: false } });
  let answered = false;
  const upload = rawUpload(
    gw.url,
    post(10 * MB, 'connection: close\r\n'),
    (async function* () {
      for (let i = 0; i < 100; i++) {
        yield Buffer.alloc(16_384, 'a');
        await sleep(100);
      }
    })(),
  );
  for (let i = 0; i < 100 && !answered; i++) {
    await sleep(20);
    answered = gw.logs.lines.some((line) => line.msg === 'request completed' && line.status === 413);
  }
  expect(answered).toBe(true);
  const started = Date.now();
  await gw.close();
  expect(Date.now() - started).toBeLessThan(2_000);
  const result = await upload;
  expectGraphqlError(result.response, 'PAYLOAD_TOO_LARGE');
  expect(result.closedAfterMs).toBeLessThan(5_000);
});

describe('config', () => {
  it('defaults: a 30 s / 5 s / 128 MiB drain, 500 bytes/s after 5 s, no probe detail', () => {
    const server = ConfigSchema.parse({}).server;
    expect(server).toMatchObject({
      lingeringTimeMs: 30_000,
      lingeringTimeoutMs: 5_000,
      lingeringMaxBytes: 128 * MB,
      minBodyRateBytesPerSecond: 500,
      bodyRateGraceMs: 5_000,
      readinessDetail: false,
    });
  });
});
