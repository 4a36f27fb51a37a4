import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { ERRORS, graphqlErrorBody, restErrorBody, type ErrorCode } from '../errors.js';

/**
 * Whether a request target (`/graphql?query=…`, as on the request line) names the GraphQL path: its
 * errors are GraphQL responses (`{"errors": [...]}`), every other path's are `{error, message,
 * request_id}`. An unknown target (`undefined`: not even the request line could be read) counts as
 * the GraphQL path, the gateway's one endpoint that always exists (README "The HTTP edge").
 */
export function isGraphqlTarget(target: string | undefined, graphqlPath: string): boolean {
  if (target === undefined) return true;
  const query = target.indexOf('?');
  return (query === -1 ? target : target.slice(0, query)) === graphqlPath;
}

export interface RawError {
  code: ErrorCode;
  /** The registry's message when absent. */
  message?: string | undefined;
  /** GraphQL format (`errors[].extensions.code`) or the REST one (`{error, message, request_id}`). */
  graphql: boolean;
  requestId: string;
  requestIdHeader: string;
}

/**
 * A whole HTTP/1.1 error answer with `connection: close`, written straight to the socket: for what
 * is refused where no Fastify reply exists (a client error, a `CONNECT`, an upload too slow). Nothing
 * is written when the socket cannot take it or an answer has begun on it.
 */
export function writeRawError(socket: Socket, error: RawError): void {
  const inProgress = (socket as Socket & { _httpMessage?: { headersSent?: boolean } | null })._httpMessage;
  if (!socket.writable || inProgress?.headersSent) return;
  const status = ERRORS[error.code].status;
  const body = JSON.stringify(
    error.graphql ? graphqlErrorBody(error.code, error.message) : restErrorBody(error.code, error.requestId, error.message),
  );
  socket.write(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
      'connection: close\r\n' +
      'content-type: application/json; charset=utf-8\r\n' +
      `content-length: ${Buffer.byteLength(body)}\r\n` +
      `${error.requestIdHeader}: ${error.requestId}\r\n\r\n${body}`,
  );
}
