import type { onRequestAsyncHookHandler } from 'fastify';
import { GatewayError } from '../errors.js';

/**
 * Refuses a request whose declared `Content-Length` is over `limit` (413 PAYLOAD_TOO_LARGE) before
 * anything else runs, and keeps the connection open while doing so.
 *
 * Fastify's own check answers the same 413 but with `connection: close`; closing a socket while the
 * client is still uploading makes the kernel reset it, and many clients (undici's `fetch` among them)
 * then report a network error instead of the 413, depending on timing. Answered from a hook, Node
 * reads and discards the rest of the body (bounded in time by `server.requestTimeoutMs`) and the
 * client gets its answer. Bodies without a declared length still meet Fastify's check as they stream.
 */
export function declaredBodyLimit(limit: number): onRequestAsyncHookHandler {
  return async (request) => {
    const declared = request.headers['content-length'];
    if (declared !== undefined && Number(declared) > limit) throw new GatewayError('PAYLOAD_TOO_LARGE');
  };
}
