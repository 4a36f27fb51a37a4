import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { listenKillable } from './killable.js';

/** One request as the upstream received it: the raw target, exactly as it came off the wire. */
export interface UpstreamHit {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

export interface RestUpstream {
  /** Origin, e.g. http://127.0.0.1:54321 (stays the same across kill() / revive()). */
  readonly origin: string;
  readonly hits: UpstreamHit[];
  /** When set, every request is answered with this status (a failing service). */
  failWith: number | undefined;
  /** Streaming progress: bytes of `…/download` bodies fully handed to the socket, `…/upload` bytes received so far, downloads finished. */
  readonly progress: { downloadsFinished: number; uploadReceived: number };
  kill(): Promise<void>;
  revive(): Promise<void>;
  close(): Promise<void>;
}

const CHUNK = Buffer.alloc(64 * 1024, 0x61);

/**
 * A legacy REST service on 127.0.0.1 port 0 for passthrough tests. Every request is recorded with
 * its raw target and headers. Paths (under any prefix):
 *
 * - `…/echo…`: 200 JSON `{method, url, headers}` (with an `x-upstream-hop` and a hop-by-hop `keep-alive` header);
 * - `…/download?bytes=N`: N bytes, generated chunk by chunk as the client reads (never held in memory);
 * - `…/upload`: reads the body as a stream and answers `{bytes}`;
 * - `…/redirect`: 302 to `/somewhere/else`;
 * - `…/slow?ms=N`: answers after N ms (or when the client leaves);
 * - `…/garbage`: writes bytes that are not HTTP and closes;
 * - `…/status?code=N`: answers status N;
 * - `…/trickle?chunks=N&ms=M`: 200 at once, then N chunks of 16 bytes, one every M ms (or until the client leaves);
 * - `…/own-cors`: 200 JSON with its own `Access-Control-Allow-Origin: *`, `-Credentials` and `Vary: Accept-Encoding`;
 * - `…/answer-headers?name=value&…`: 200 `{"n":<hits so far>}` with each query parameter as a response header;
 * - `…/items?n=N`: 200 JSON `{items: [{id, name, secret}…], internal: {token}, total}`, written in chunks without a length.
 */
export async function startRestUpstream(): Promise<RestUpstream> {
  const hits: UpstreamHit[] = [];
  const state: { failWith: number | undefined } = { failWith: undefined };
  const progress = { downloadsFinished: 0, uploadReceived: 0 };

  const server: Server = createServer(async (req, res) => {
    const url = req.url ?? '';
    hits.push({ method: req.method ?? '', url, headers: req.headers });
    const parsed = new URL(url, 'http://upstream');
    const path = parsed.pathname;
    if (state.failWith !== undefined) {
      res.writeHead(state.failWith, { 'content-type': 'text/plain' }).end(`failing with ${state.failWith}`);
      return;
    }
    if (path.endsWith('/garbage')) {
      req.socket.end('this is not HTTP at all\r\n\r\n');
      return;
    }
    if (path.endsWith('/download')) {
      let left = Number(parsed.searchParams.get('bytes') ?? 0);
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(left) });
      res.once('finish', () => progress.downloadsFinished++);
      const write = () => {
        while (left > 0) {
          const chunk = left >= CHUNK.length ? CHUNK : CHUNK.subarray(0, left);
          left -= chunk.length;
          if (!res.write(chunk)) return void res.once('drain', write);
        }
        res.end();
      };
      write();
      return;
    }
    if (path.endsWith('/upload')) {
      let bytes = 0;
      for await (const chunk of req) {
        bytes += (chunk as Buffer).length;
        progress.uploadReceived += (chunk as Buffer).length;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ bytes }));
      return;
    }
    if (path.endsWith('/redirect')) {
      res.writeHead(302, { location: '/somewhere/else' }).end();
      return;
    }
    if (path.endsWith('/slow')) {
      const ms = Number(parsed.searchParams.get('ms') ?? 1000);
      let closed = false;
      res.on('close', () => (closed = true));
      for (let waited = 0; waited < ms && !closed; waited += 50) await sleep(50);
      if (!closed) res.writeHead(200, { 'content-type': 'application/json' }).end('{"slow":true}');
      return;
    }
    if (path.endsWith('/answer-headers')) {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      for (const [name, value] of parsed.searchParams) headers[name] = value;
      res.writeHead(200, headers).end(JSON.stringify({ n: hits.length }));
      return;
    }
    if (path.endsWith('/own-cors')) {
      res
        .writeHead(200, {
          'content-type': 'application/json',
          'access-control-allow-origin': '*',
          'access-control-allow-credentials': 'true',
          vary: 'Accept-Encoding',
        })
        .end('{"own":true}');
      return;
    }
    if (path.endsWith('/trickle')) {
      const chunks = Number(parsed.searchParams.get('chunks') ?? 10);
      const ms = Number(parsed.searchParams.get('ms') ?? 100);
      const type = parsed.searchParams.get('type') ?? 'application/octet-stream';
      let closed = false;
      res.on('close', () => (closed = true));
      res.writeHead(200, { 'content-type': type });
      res.write(type.includes('json') ? '[' : '');
      for (let i = 0; i < chunks && !closed; i++) {
        await sleep(ms);
        res.write(type.includes('json') ? `${i ? ',' : ''}${String(i).padStart(15, ' ')}` : 'b'.repeat(16));
      }
      if (!closed) res.end(type.includes('json') ? ']' : '');
      return;
    }
    if (path.endsWith('/items')) {
      const n = Number(parsed.searchParams.get('n') ?? 2);
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', etag: '"v1"' });
      res.write('{"items":[');
      for (let i = 0; i < n; i++) res.write(`${i ? ',' : ''}${JSON.stringify({ id: i, name: `item-${i}`, secret: `s${i}` })}`);
      res.end(`],"internal":{"token":"t0","shard":3},"total":${n}}`);
      return;
    }
    if (path.endsWith('/status')) {
      res.writeHead(Number(parsed.searchParams.get('code') ?? 500), { 'content-type': 'text/plain' }).end('as asked');
      return;
    }
    for await (const _chunk of req) void _chunk;
    res
      .writeHead(200, {
        'content-type': 'application/json',
        'x-upstream-hop': 'yes',
        'keep-alive': 'timeout=5',
        'proxy-authenticate': 'Basic',
      })
      .end(JSON.stringify({ method: req.method, url, headers: req.headers }));
  });
  const { port, kill, revive } = await listenKillable(server);
  return {
    origin: `http://127.0.0.1:${port}`,
    hits,
    progress,
    get failWith() {
      return state.failWith;
    },
    set failWith(value: number | undefined) {
      state.failWith = value;
    },
    kill,
    revive,
    close: kill,
  };
}

/** Sends a request with the target exactly as given (no client-side normalisation of `..` or `%2e`). */
export async function rawRequest(
  origin: string,
  target: string,
  options: { method?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  const { request } = await import('node:http');
  const url = new URL(origin);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port, method: options.method ?? 'GET', path: target, headers: options.headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}
