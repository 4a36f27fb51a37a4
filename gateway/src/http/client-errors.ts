import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyBaseLogger } from 'fastify';
import { ERRORS, restErrorBody, type ErrorCode } from '../errors.js';
import type { GatewayMetrics } from '../observability/metrics.js';

export interface ClientErrorHandlerOptions {
  logger: FastifyBaseLogger;
  metrics?: GatewayMetrics | undefined;
  /** Header that carries the (generated) request id of the answer, as on every other response. */
  requestIdHeader: string;
}

/** What Node reports on a connection's `clientError` event (an `Error` with an llhttp or Node code). */
export type ClientError = Error & { code?: string };

const REASONS = {
  REQUEST_TIMEOUT: 'request_timeout',
  HEADERS_TOO_LARGE: 'headers_too_large',
  BAD_REQUEST: 'bad_request',
} as const;

/**
 * Fastify's `clientErrorHandler`: answers what Node refuses before a request exists, in the
 * gateway's error format instead of Node's or Fastify's. Node emits `clientError` for
 *
 * - `ERR_HTTP_REQUEST_TIMEOUT`: the headers took longer than `server.headersTimeoutMs`, or the
 *   whole request longer than `server.requestTimeoutMs` (slowloris, slow POST) → 408 `REQUEST_TIMEOUT`;
 * - `HPE_HEADER_OVERFLOW`: request line and headers over `server.maxHeaderBytes` → 431 `HEADERS_TOO_LARGE`;
 * - any other parser error (`HPE_INVALID_*`: a NUL byte in a header, a bad method, a broken chunk) → 400 `BAD_REQUEST`.
 *
 * Then the connection is closed: its parser state is unknown. Nothing is written when the socket is
 * gone or a response is already under way on it (as Node's own handler does), and a reset
 * (`ECONNRESET`) is the client leaving, not an error. Logged at `debug` and counted in
 * `gateway_http_rejections_total`, not logged per event at `info`: a flood of them is an attack,
 * and the log must not be its amplifier.
 */
export function createClientErrorHandler(options: ClientErrorHandlerOptions): (error: ClientError, socket: Socket) => void {
  return (error, socket) => {
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    const code: ErrorCode =
      error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? 'REQUEST_TIMEOUT'
        : error.code === 'HPE_HEADER_OVERFLOW'
          ? 'HEADERS_TOO_LARGE'
          : 'BAD_REQUEST';
    const requestId = randomUUID();
    options.metrics?.httpRejections.inc({ reason: REASONS[code as keyof typeof REASONS] });
    options.logger.debug({ reqId: requestId, code, cause: error.code, remoteAddress: socket.remoteAddress }, 'client error');
    const inProgress = (socket as Socket & { _httpMessage?: { headersSent?: boolean } | null })._httpMessage;
    if (socket.writable && !inProgress?.headersSent) writeRawError(socket, code, requestId, options.requestIdHeader);
    socket.destroy();
  };
}

/**
 * Answers `CONNECT` (the server's `connect` event): Node hands such a request to no route, and with
 * no listener it drops the connection without a word. The gateway is not a forward proxy: 405.
 */
export function createConnectHandler(options: ClientErrorHandlerOptions): (request: unknown, socket: Socket) => void {
  return (_request, socket) => {
    options.metrics?.httpRejections.inc({ reason: 'bad_request' });
    if (socket.writable) writeRawError(socket, 'METHOD_NOT_ALLOWED', randomUUID(), options.requestIdHeader);
    socket.destroy();
  };
}

/** A whole HTTP/1.1 error answer in the gateway's REST error format, written straight to the socket. */
function writeRawError(socket: Socket, code: ErrorCode, requestId: string, requestIdHeader: string): void {
  const status = ERRORS[code].status;
  const body = JSON.stringify(restErrorBody(code, requestId));
  socket.write(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
      'connection: close\r\n' +
      'content-type: application/json; charset=utf-8\r\n' +
      `content-length: ${Buffer.byteLength(body)}\r\n` +
      `${requestIdHeader}: ${requestId}\r\n\r\n${body}`,
  );
}
