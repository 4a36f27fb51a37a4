import { ServerResponse, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import WebSocket, { WebSocketServer, type RawData } from 'ws';
import { z } from 'zod';
import { durationMs } from '../config-kit.js';
import { GatewayError } from '../errors.js';
import type { UpgradeRouter } from '../http/upgrades.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import { UpstreamCallError } from '../upstream/call-error.js';
import { routeCall, type UpstreamRoute } from '../upstream/route.js';
import { clientResponseHeaders } from './headers.js';
import { RouteTimeoutError } from './timeouts.js';

/**
 * WebSocket passthrough on a REST route: the upgrade request passes the route's hooks like any
 * request (route choice, authentication, scopes, the route's limit and its cost, charged once per
 * connection), then the gateway opens the upstream's WebSocket through the route's breaker or
 * replica pool (`consistent_hash` keeps a client on one replica) and, once it is open, completes
 * the client's handshake and relays messages both ways until either side closes, the connection is
 * idle too long, or it reaches its lifetime.
 */
export const WebSocketSchema = z
  .union([
    z.literal(true),
    z
      .object({
        idleTimeoutMs: durationMs
          .optional()
          .describe('A connection with no message either way for this long is closed (1001). Default 300000.'),
        maxLifetimeMs: durationMs.optional().describe('A connection is closed (1001) when it has been open this long. Default 3600000.'),
      })
      .strict(),
  ])
  .optional()
  .describe(
    'Proxy WebSocket upgrades on this route (`true`, or the limits): auth at the handshake, `cost` charged per connection, idle and lifetime limits.',
  );

export interface WebSocketLimits {
  idleTimeoutMs: number;
  maxLifetimeMs: number;
}

export function webSocketLimits(config: z.output<typeof WebSocketSchema>): WebSocketLimits | undefined {
  if (config === undefined) return undefined;
  const own = config === true ? {} : config;
  return { idleTimeoutMs: own.idleTimeoutMs ?? 300_000, maxLifetimeMs: own.maxLifetimeMs ?? 3_600_000 };
}

const kSocket = Symbol('upgrade socket');
const kHead = Symbol('upgrade head');
type UpgradeRequest = IncomingMessage & { [kSocket]?: Socket; [kHead]?: Buffer };

/** A request that asks for a WebSocket (the gateway's upgrade listener dispatched it). */
export function isUpgrade(request: FastifyRequest): boolean {
  return (request.raw as UpgradeRequest)[kSocket] !== undefined;
}

/** Headers of the client's handshake that are the gateway's to set towards the upstream (ws sets its own). */
const HANDSHAKE_HEADERS = [
  'host',
  'upgrade',
  'connection',
  'sec-websocket-key',
  'sec-websocket-version',
  'sec-websocket-extensions',
  'sec-websocket-protocol',
];

/** Why a relayed connection ended (`reason` label of `gateway_rest_websocket_closed_total`). */
type CloseReason = 'client' | 'upstream' | 'idle' | 'lifetime' | 'shutdown' | 'error';

export interface WebSocketRelay {
  /**
   * Dispatches upgrade requests to the routes' paths (`owns`) through the Fastify router, so the
   * routes' hooks answer refusals over HTTP; other upgrades are left to their own takers (GraphQL subscriptions).
   */
  install(app: FastifyInstance, owns: (path: string) => boolean, upgrades: UpgradeRouter): void;
  /** Opens the upstream WebSocket, then completes the client's handshake and relays; refusals throw a GatewayError. */
  open(call: WebSocketCall): Promise<FastifyReply>;
}

export interface WebSocketCall {
  request: FastifyRequest;
  reply: FastifyReply;
  route: string;
  limits: WebSocketLimits;
  upstream: UpstreamRoute | undefined;
  origin: string;
  /** The upstream path and query. */
  target: string;
  /** The headers to send upstream (identity set), before the handshake's own are dropped. */
  headers: IncomingHttpHeaders;
  /** The value `consistent_hash` hashes, if any. */
  hashKey: string | undefined;
  handshakeTimeoutMs: number;
}

/** The relay of one REST passthrough: its open connections are closed (1001) when the gateway closes. */
export function createWebSocketRelay(metrics: GatewayMetrics): WebSocketRelay {
  const server = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    handleProtocols: (_offered, request) => chosen.get(request) ?? false,
  });
  const chosen = new WeakMap<IncomingMessage, string>();
  const open = new Set<() => void>();

  return {
    install(app, owns, upgrades) {
      upgrades.take(owns, (request, socket, head) => {
        const raw = request as UpgradeRequest;
        raw[kSocket] = socket as Socket;
        raw[kHead] = head;
        const response = new ServerResponse(raw);
        response.assignSocket(socket as Socket);
        // A refusal answered over HTTP ends the connection: it was never going to serve another request.
        response.on('finish', () => socket.destroy());
        app.routing(raw, response);
      });
      app.addHook('preClose', async () => {
        for (const close of [...open]) close();
      });
    },

    async open(call) {
      const raw = call.request.raw as UpgradeRequest;
      const offered = String(raw.headers['sec-websocket-protocol'] ?? '')
        .split(',')
        .map((value) => value.trim())
        .filter(Boolean);
      const headers: Record<string, string | string[]> = {};
      for (const [name, value] of Object.entries(call.headers))
        if (value !== undefined && !HANDSHAKE_HEADERS.includes(name)) headers[name] = value;
      const routed = routeCall(call.upstream, call.origin, call.hashKey);
      let upstream: WebSocket;
      try {
        upstream = await routed.attempt((origin) => connectUpstream(origin + call.target, offered, headers, call.handshakeTimeoutMs));
      } catch (error) {
        if (error instanceof UpgradeRefused && isPassedOn(error.status)) return passRefusalOn(call.reply, error);
        throw refusalOf(error);
      }
      if (upstream.protocol) chosen.set(raw, upstream.protocol);
      call.reply.hijack();
      const socket = raw[kSocket] as Socket;
      let relayed = false;
      // ws refuses a malformed handshake itself (400) without calling back: the upstream is then closed.
      socket.once('close', () => relayed || upstream.terminate());
      server.handleUpgrade(raw, socket, raw[kHead] ?? Buffer.alloc(0), (client) => {
        relayed = true;
        // The HTTP exchange is over (101 sent): what waits for the response's end (the in-flight count) may let go.
        call.reply.raw.detachSocket(socket);
        call.reply.raw.emit('close');
        const end = relay(client, upstream, call, metrics);
        open.add(end);
        client.once('close', () => open.delete(end));
      });
      return call.reply;
    },
  };
}

/**
 * Opens the upstream's WebSocket; a non-101 answer or a failure rejects. A 3xx or 4xx is the
 * upstream's refusal, passed on to the client; another non-101 below 500 (a 200 from a path that
 * does not speak WebSocket) is refused with 502. Neither counts on the breaker: a 5xx, the network
 * and the deadline do.
 */
function connectUpstream(
  url: string,
  protocols: string[],
  headers: Record<string, string | string[]>,
  timeoutMs: number,
): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url.replace(/^http/, 'ws'), protocols, {
      headers,
      handshakeTimeout: timeoutMs,
      perMessageDeflate: false,
      followRedirects: false,
    });
    socket.once('open', () => {
      // Nothing is read until the client's side is open and relaying (a greeting would be lost).
      socket.pause();
      resolve(socket);
    });
    // Once the upstream has answered, ws's handshake deadline and its request's errors may still
    // fire while a refusal's body is read: they must not turn the refusal into a failure.
    let answered = false;
    socket.once('unexpected-response', (_request, response) => {
      answered = true;
      const status = response.statusCode ?? 0;
      if (!isPassedOn(status)) {
        response.resume();
        socket.terminate();
        reject(
          status >= 500
            ? new UpstreamCallError('http_error', `upgrade answered ${status}`, status)
            : new UpgradeRefused(status, {}, undefined),
        );
        return;
      }
      void readRefusalBody(response, timeoutMs).then((body) => {
        socket.terminate();
        const passed = refusalHeaders(response.headers);
        // A body is passed on only with its type (Fastify would call it application/octet-stream), and a type only with its body.
        const typed = body?.length && passed['content-type'] !== undefined ? body : undefined;
        if (!typed) delete passed['content-type'];
        reject(new UpgradeRefused(status, passed, typed));
      });
    });
    socket.on('error', (error) => {
      if (answered) return;
      const timedOut = /timed out/i.test(error.message);
      reject(
        timedOut
          ? new RouteTimeoutError('first_byte', error.message, { cause: error })
          : new UpstreamCallError('network_error', error.message, undefined, { cause: error }),
      );
    });
  });
}

/** The most of an upstream's refusal body passed on; a longer one is dropped (the status and the other headers still are). */
const MAX_REFUSAL_BODY_BYTES = 64 * 1024;
/** The headers of an upstream's refusal passed on to the client (with the body's `content-type`). */
const REFUSAL_HEADERS = ['content-type', 'www-authenticate', 'retry-after', 'location'];

/**
 * The upstream answered the upgrade with something other than 101 below 500: not a failure of the
 * service. A 3xx or 4xx is its answer to this client (a path it does not have, identity headers it
 * does not accept) and is passed on ({@link isPassedOn}): its status, a few of its headers, its body.
 */
class UpgradeRefused extends Error {
  constructor(
    readonly status: number,
    readonly headers: Record<string, string>,
    readonly body: Buffer | undefined,
  ) {
    super(`upstream refused the upgrade with ${status}`);
  }
}

function isPassedOn(status: number): boolean {
  return status >= 300 && status < 500;
}

function refusalHeaders(received: IncomingHttpHeaders): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name of REFUSAL_HEADERS) {
    const value = received[name];
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return headers;
}

/** The refusal's body, up to {@link MAX_REFUSAL_BODY_BYTES} and `timeoutMs`; undefined when longer, slower, stalled or cut. */
function readRefusalBody(response: IncomingMessage, timeoutMs: number): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (body: Buffer | undefined) => {
      clearTimeout(timer);
      response.off('data', onData);
      resolve(body);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_REFUSAL_BODY_BYTES) {
        response.destroy();
        return finish(undefined);
      }
      chunks.push(chunk);
    };
    const timer = setTimeout(() => {
      response.destroy();
      finish(undefined);
    }, timeoutMs);
    response.on('data', onData);
    response.once('end', () => finish(Buffer.concat(chunks)));
    response.once('close', () => finish(undefined));
    response.once('error', () => finish(undefined));
  });
}

/** Answers the client's handshake with the upstream's refusal (the route's response rules applied); the connection ends with it. */
function passRefusalOn(reply: FastifyReply, refusal: UpgradeRefused): FastifyReply {
  return reply
    .code(refusal.status)
    .headers({ ...clientResponseHeaders(refusal.headers, reply.request), connection: 'close' })
    .send(refusal.body);
}

function refusalOf(error: unknown): GatewayError {
  if (error instanceof GatewayError) return error;
  if (error instanceof RouteTimeoutError) return new GatewayError('UPSTREAM_TIMEOUT', undefined, { connection: 'close' });
  if (error instanceof UpstreamCallError || error instanceof UpgradeRefused)
    return new GatewayError('UPSTREAM_BAD_RESPONSE', undefined, { connection: 'close' });
  return new GatewayError('UPSTREAM_UNAVAILABLE', undefined, { connection: 'close' });
}

/** Relays messages both ways until one side closes or a limit is reached; returns what closes it at shutdown. */
function relay(client: WebSocket, upstream: WebSocket, call: WebSocketCall, metrics: GatewayMetrics): () => void {
  const labels = { route: call.route };
  metrics.restWebSockets.inc(labels);
  const opened = Date.now();
  let ended = false;
  let idle: NodeJS.Timeout;
  const end = (reason: CloseReason, code?: number, text?: string) => {
    if (ended) return;
    ended = true;
    clearTimeout(idle);
    clearTimeout(lifetime);
    metrics.restWebSockets.dec(labels);
    metrics.restWebSocketsClosed.inc({ ...labels, reason });
    call.request.log.info({ route: call.route, reason, code, durationMs: Date.now() - opened }, 'websocket closed');
    for (const socket of [client, upstream]) closeWith(socket, code, text);
  };
  const touch = () => {
    clearTimeout(idle);
    idle = setTimeout(() => end('idle', 1001, 'idle timeout'), call.limits.idleTimeoutMs);
    idle.unref();
  };
  const lifetime = setTimeout(() => end('lifetime', 1001, 'connection lifetime reached'), call.limits.maxLifetimeMs);
  lifetime.unref();
  touch();
  const pipe = (from: WebSocket, to: WebSocket) =>
    from.on('message', (data: RawData, binary: boolean) => {
      touch();
      if (to.readyState !== WebSocket.OPEN) return;
      to.send(data, { binary }, () => {
        if (from.isPaused && to.bufferedAmount < 64 * 1024) from.resume();
      });
      // A slow reader holds back the writer instead of growing the gateway's buffers.
      if (to.bufferedAmount > 1_048_576) from.pause();
    });
  pipe(client, upstream);
  pipe(upstream, client);
  upstream.resume();
  // The upstream went away while the client's handshake completed: its close event has passed.
  if (upstream.readyState !== WebSocket.OPEN) setImmediate(() => end('upstream', 1011));
  client.once('close', (code, reason) => end('client', code, reason.toString()));
  upstream.once('close', (code, reason) => end('upstream', code, reason.toString()));
  client.once('error', () => end('error', 1011));
  upstream.once('error', () => end('error', 1011));
  return () => end('shutdown', 1001, 'gateway shutting down');
}

/** Closes with a code a peer may be sent (1005, 1006 and 1015 only describe what was received). */
function closeWith(socket: WebSocket, code: number | undefined, reason: string | undefined): void {
  if (socket.readyState === WebSocket.CLOSED || socket.readyState === WebSocket.CLOSING) return;
  const sendable =
    code !== undefined &&
    (code === 1000 || (code >= 1001 && code <= 1014 && ![1004, 1005, 1006].includes(code)) || (code >= 3000 && code <= 4999));
  if (!sendable) return void socket.close(code === 1005 ? 1000 : 1011);
  socket.close(code, Buffer.byteLength(reason ?? '') <= 123 ? reason : undefined);
}
