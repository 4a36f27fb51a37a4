import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyBaseLogger } from 'fastify';
import type { ErrorCode } from '../errors.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import type { LingeringClose } from './lingering-close.js';
import { isGraphqlTarget, writeRawError } from './raw-error.js';

export interface ClientErrorHandlerOptions {
  logger: FastifyBaseLogger;
  metrics?: GatewayMetrics | undefined;
  /** Header that carries the (generated) request id of the answer, as on every other response. */
  requestIdHeader: string;
  /** Requests to this path get GraphQL-format errors; others `{error, message, request_id}`. */
  graphqlPath: string;
  /** Drains a connection after its answer instead of resetting it. */
  lingering: LingeringClose;
}

/**
 * What Node reports on a connection's `clientError` event: an `Error` with an llhttp or Node code;
 * a parser error also has the bytes being parsed (`rawPacket`).
 */
export type ClientError = Error & { code?: string; rawPacket?: unknown };

const REASONS = {
  REQUEST_TIMEOUT: 'request_timeout',
  HEADERS_TOO_LARGE: 'headers_too_large',
  BAD_REQUEST: 'bad_request',
} as const;

/** llhttp's codes for a request whose length is ambiguous or whose chunked framing is broken (request smuggling material). */
const FRAMING_ERRORS = new Set([
  'HPE_UNEXPECTED_CONTENT_LENGTH',
  'HPE_INVALID_CONTENT_LENGTH',
  'HPE_INVALID_TRANSFER_ENCODING',
  'HPE_INVALID_CHUNK_SIZE',
  'HPE_CHUNK_EXTENSIONS_OVERFLOW',
]);
const FRAMING_MESSAGE =
  "The request's framing is invalid (`Content-Length` with `Transfer-Encoding`, two `Content-Length`s, or a broken chunk); " +
  'the connection is closed.';

/**
 * Fastify's `clientErrorHandler`: answers what Node refuses before a request exists, in the
 * gateway's error format instead of Node's or Fastify's. Node emits `clientError` for
 *
 * - `ERR_HTTP_REQUEST_TIMEOUT`: the headers took longer than `server.headersTimeoutMs`, or the
 *   whole request longer than `server.requestTimeoutMs` (slowloris, slow POST) → 408 `REQUEST_TIMEOUT`;
 * - `HPE_HEADER_OVERFLOW`: request line and headers over `server.maxHeaderBytes` → 431 `HEADERS_TOO_LARGE`;
 * - any other parser error (`HPE_INVALID_*`: a NUL byte in a header, a bad method, a broken chunk) → 400 `BAD_REQUEST`.
 *
 * The format follows the request's target as far as Node has read it ({@link requestTarget}): the
 * GraphQL path, or an unreadable one, gets a GraphQL response, any other path the REST format.
 * Then the connection is closed: its parser state is unknown. Before a request exists (a header too
 * large or malformed, ambiguous framing) the client may still be sending, so the connection is
 * drained first (lingering close); a timed-out client is closed at once, as is one whose request
 * broke mid-body. Nothing is written on a connection that is already draining after its answer
 * (Node's request timeout still runs there), and a reset (`ECONNRESET`) is the client leaving.
 * Logged at `debug` and counted in `gateway_http_rejections_total`: a flood of them is an attack,
 * and the log must not be its amplifier.
 */
export function createClientErrorHandler(options: ClientErrorHandlerOptions): (error: ClientError, socket: Socket) => void {
  const { lingering } = options;
  return (error, socket) => {
    // Node reports each further chunk on a connection drained after a parse error again: ignored.
    if (error.code === 'ECONNRESET' || socket.destroyed || lingering.draining(socket)) return;
    const code: ErrorCode =
      error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? 'REQUEST_TIMEOUT'
        : error.code === 'HPE_HEADER_OVERFLOW'
          ? 'HEADERS_TOO_LARGE'
          : 'BAD_REQUEST';
    const requestId = randomUUID();
    options.metrics?.httpRejections.inc({ reason: REASONS[code as keyof typeof REASONS] });
    options.logger.debug({ reqId: requestId, code, cause: error.code, remoteAddress: socket.remoteAddress }, 'client error');
    const pending = pendingRequest(socket);
    writeRawError(socket, {
      code,
      message: FRAMING_ERRORS.has(error.code ?? '') ? FRAMING_MESSAGE : undefined,
      graphql: isGraphqlTarget(requestTarget(error, socket), options.graphqlPath),
      requestId,
      requestIdHeader: options.requestIdHeader,
    });
    if (code === 'REQUEST_TIMEOUT' || pending) socket.destroy();
    else lingering.closeAfterError(socket);
  };
}

/**
 * Answers `CONNECT` (the server's `connect` event): Node hands such a request to no route, and with
 * no listener it drops the connection without a word. The gateway is not a forward proxy: 405.
 */
export function createConnectHandler(
  options: Omit<ClientErrorHandlerOptions, 'lingering'>,
): (request: IncomingMessage, socket: Socket) => void {
  return (request, socket) => {
    options.metrics?.httpRejections.inc({ reason: 'bad_request' });
    const graphql = isGraphqlTarget(request.url, options.graphqlPath);
    writeRawError(socket, { code: 'METHOD_NOT_ALLOWED', graphql, requestId: randomUUID(), requestIdHeader: options.requestIdHeader });
    socket.destroy();
  };
}

/** Node's parser of a connection (an internal of `node:http`, read-only here). */
interface ParserView {
  incoming?: IncomingMessage | null;
  /** The request target, when Node handed it to JavaScript before the headers were complete (over 32 header lines). */
  _url?: string;
}

const parserOf = (socket: Socket) => (socket as Socket & { parser?: ParserView | null }).parser ?? undefined;

/** The request that broke mid-body, still unfinished (a Fastify request may be waiting on its body). */
function pendingRequest(socket: Socket): IncomingMessage | undefined {
  const incoming = parserOf(socket)?.incoming ?? undefined;
  return incoming && !incoming.complete ? incoming : undefined;
}

/**
 * The target of the request a client error is about, from what Node has read: the request, once its
 * headers were parsed; else the target Node kept; else the request line at the start of the bytes
 * being parsed (the request's first packet: a header bomb or a malformed header usually arrives with
 * it). `undefined` when none holds it (a request line sent on its own, then slow or huge headers).
 */
export function requestTarget(error: ClientError, socket: Socket): string | undefined {
  const parser = parserOf(socket);
  const pending = pendingRequest(socket);
  if (pending?.url) return pending.url;
  if (parser?._url) return parser._url;
  const packet = error.rawPacket;
  if (!Buffer.isBuffer(packet)) return undefined;
  const end = packet.indexOf('\n');
  const line = packet.subarray(0, end === -1 ? packet.length : end).toString('latin1');
  // A method (no colon, unlike a header line), the target, and the protocol.
  return /^[^\s:]+ (\S+) HTTP\//.exec(line)?.[1];
}
