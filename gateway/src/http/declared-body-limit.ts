import type { onRequestAsyncHookHandler } from 'fastify';
import { GatewayError } from '../errors.js';

/**
 * Refuses a request whose declared `Content-Length` is over `limit` (413 PAYLOAD_TOO_LARGE) before
 * anything else runs, and keeps the connection open while doing so.
 *
 * Fastify's own check answers the same 413 but with `connection: close`. Answered from a hook, the
 * connection stays open when the client allows it: the rest of the body is read and discarded
 * (lingering close, `lingering-close.ts`, within its bounds) and the connection serves the next
 * request. Bodies without a declared length still meet Fastify's check as they stream.
 */
export function declaredBodyLimit(limit: number): onRequestAsyncHookHandler {
  return async (request) => {
    const declared = request.headers['content-length'];
    if (declared !== undefined && Number(declared) > limit) throw new GatewayError('PAYLOAD_TOO_LARGE');
  };
}
