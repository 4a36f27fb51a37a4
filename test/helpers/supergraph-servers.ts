import { createHash } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

/**
 * An object store / CDN serving one supergraph file with an ETag (the SDL's hash) and honouring
 * `If-None-Match` (a `Last-Modified` moves on a minute per publish); it counts its 200s, 304s and errors, and keeps every request's headers.
 */
export interface SupergraphHttpServer {
  url: string;
  counts: { ok: number; notModified: number; failed: number };
  requests: IncomingHttpHeaders[];
  /** Serves this SDL from now on. */
  publish(sdl: string): void;
  /** Answers every request with this status (e.g. 503) until called with undefined. */
  failWith(status: number | undefined): void;
  close(): Promise<void>;
}

export async function startSupergraphHttpServer(
  sdl: string,
  options: { requiredHeader?: [string, string] } = {},
): Promise<SupergraphHttpServer> {
  let current = sdl;
  let lastModified = new Date(Date.UTC(2026, 0, 1)).toUTCString();
  let failure: number | undefined;
  const counts = { ok: 0, notModified: 0, failed: 0 };
  const requests: IncomingHttpHeaders[] = [];
  const etagOf = (text: string) => `"${createHash('sha256').update(text).digest('hex').slice(0, 16)}"`;
  const server = createServer((request, response) => {
    requests.push(request.headers);
    const [header, value] = options.requiredHeader ?? [];
    if (failure !== undefined || (header && request.headers[header.toLowerCase()] !== value)) {
      counts.failed++;
      response.writeHead(failure ?? 403).end('no');
      return;
    }
    const etag = etagOf(current);
    if (request.headers['if-none-match'] === etag) {
      counts.notModified++;
      response.writeHead(304, { etag, 'last-modified': lastModified }).end();
      return;
    }
    counts.ok++;
    response.writeHead(200, { 'content-type': 'text/plain', etag, 'last-modified': lastModified }).end(current);
  });
  const url = await listen(server);
  return {
    url: `${url}/supergraph`,
    counts,
    requests,
    publish: (next) => {
      current = next;
      lastModified = new Date(Date.parse(lastModified) + 60_000).toUTCString();
    },
    failWith: (status) => {
      failure = status;
    },
    close: () => close(server),
  };
}

export interface UplinkRequest {
  query: string;
  operationName?: string;
  variables: { apiKey: string; ref: string; ifAfterId: string | null };
}

/** What the fake Uplink answers as `routerConfig` (or a raw HTTP status). */
export type UplinkAnswer =
  | { __typename: 'RouterConfigResult'; id: string; supergraphSdl: string; minDelaySeconds: number }
  | { __typename: 'Unchanged'; id: string; minDelaySeconds: number }
  | { __typename: 'FetchError'; code: string; message: string }
  | { status: number };

/** A local server speaking the Uplink protocol; `answer` decides each reply, every request is kept. */
export interface UplinkServer {
  url: string;
  requests: UplinkRequest[];
  answer: (request: UplinkRequest) => UplinkAnswer;
  close(): Promise<void>;
}

export async function startUplinkServer(answer: (request: UplinkRequest) => UplinkAnswer): Promise<UplinkServer> {
  const requests: UplinkRequest[] = [];
  const uplink: UplinkServer = { url: '', requests, answer, close: async () => undefined };
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    request.on('end', () => {
      const parsed = JSON.parse(body) as UplinkRequest;
      requests.push(parsed);
      const reply = uplink.answer(parsed);
      if ('status' in reply) {
        response.writeHead(reply.status, { 'content-type': 'application/json' }).end('{"errors":[{"message":"unavailable"}]}');
        return;
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ data: { routerConfig: reply } }));
    });
  });
  uplink.url = `${await listen(server)}/`;
  uplink.close = () => close(server);
  return uplink;
}
