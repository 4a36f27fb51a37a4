import type { onRequestAsyncHookHandler } from 'fastify';
import { GatewayError } from '../errors.js';

/**
 * Refuses a request that carries a header meant to appear once more than once: `Authorization`, the
 * API key header, `Host` and `Content-Type` (400 `DUPLICATE_HEADER`), and an HTTP/1.1 request with no
 * `Host` (400 `BAD_REQUEST`, RFC 9112 §3.2).
 *
 * Node keeps the first of two `Authorization`, `Host` or `Content-Type` headers and drops the other
 * without a word, so a proxy in front that reads the other one would see another caller, host or
 * body type than the gateway does. The check reads `rawHeaders`, which keeps every line as sent. Node
 * answers a missing `Host` itself, with an empty 400 (its `requireHostHeader`); the server turns that
 * off so the answer comes from here, in the gateway's error format.
 */
export function singleHeaders(apiKeyHeader: string): onRequestAsyncHookHandler {
  const single = new Set(['authorization', 'host', 'content-type', apiKeyHeader.toLowerCase()]);
  return async (request) => {
    const raw = request.raw.rawHeaders;
    const seen = new Set<string>();
    for (let i = 0; i < raw.length; i += 2) {
      const name = (raw[i] as string).toLowerCase();
      if (!single.has(name)) continue;
      if (seen.has(name)) throw new GatewayError('DUPLICATE_HEADER', `The \`${name}\` header appears more than once; send it once.`);
      seen.add(name);
    }
    if (!seen.has('host') && request.raw.httpVersion === '1.1') {
      throw new GatewayError('BAD_REQUEST', 'An HTTP/1.1 request must carry a `Host` header.');
    }
  };
}
