import type { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import type { onRequestAsyncHookHandler } from 'fastify';
import type { GatewayMetrics } from '../observability/metrics.js';
import { isGraphqlTarget, writeRawError } from './raw-error.js';

export interface BodyRateOptions {
  /**
   * Slowest average rate, since the request's headers, at which its body may arrive; 0 turns the check off.
   * @default 500 (`server.minBodyRateBytesPerSecond`; Apache mod_reqtimeout's `MinRate`)
   */
  bytesPerSecond: number;
  /**
   * Time a body may take before the rate is checked.
   * @default 5000 (`server.bodyRateGraceMs`; Kestrel's grace period for its minimum body rate)
   */
  graceMs: number;
  graphqlPath: string;
  requestIdHeader: string;
  metrics?: GatewayMetrics | undefined;
}

/**
 * A minimum upload rate (slow POST, R-U-Dead-Yet): Node's request timeout bounds the whole request
 * (`server.requestTimeoutMs`), but a body trickled at one byte a second holds its connection and its
 * in-flight slot that long. From `graceMs` on, the body bytes received since the request's headers
 * must average `bytesPerSecond`; checked once a second until the body is complete
 * or an answer has begun (then lingering close bounds the rest). A slower body gets 408
 * `REQUEST_TIMEOUT`, in the format of its path, and the connection is closed.
 *
 * Only the client's slowness counts: while the gateway itself is not reading the body (its buffer
 * is full because a hook is still deciding, e.g. fetching signing keys) the measure starts again.
 */
export function minimumBodyRate(options: BodyRateOptions): onRequestAsyncHookHandler {
  return async (request, reply) => {
    const raw = request.raw;
    if (options.bytesPerSecond === 0 || raw.complete || !hasBody(raw)) return;
    const socket = raw.socket;
    // The body bytes that came with the headers are already in the request's buffer (no one reads it yet).
    let startBytes = socket.bytesRead - raw.readableLength;
    let startedAt = Date.now();
    let timer: NodeJS.Timeout | undefined;
    const schedule = (ms: number) => {
      timer = setTimeout(check, ms).unref();
    };
    // The timer holds the request: let go of it as soon as the body is in or the answer is done.
    const stop = () => clearTimeout(timer);
    raw.once('end', stop);
    reply.raw.once('close', stop);
    const check = () => {
      if (raw.complete || socket.destroyed || reply.raw.headersSent) return;
      const now = Date.now();
      if (raw.readableLength >= raw.readableHighWaterMark) {
        [startBytes, startedAt] = [socket.bytesRead, now];
        schedule(options.graceMs);
        return;
      }
      if (socket.bytesRead - startBytes >= ((now - startedAt) / 1_000) * options.bytesPerSecond) {
        schedule(1_000);
        return;
      }
      options.metrics?.httpRejections.inc({ reason: 'slow_body' });
      request.log.debug({ received: socket.bytesRead - startBytes, ms: now - startedAt }, 'request body too slow');
      const graphql = isGraphqlTarget(raw.url, options.graphqlPath);
      writeRawError(socket, { code: 'REQUEST_TIMEOUT', graphql, requestId: request.id, requestIdHeader: options.requestIdHeader });
      // Closed once the answer is flushed, or in a second at the latest (a client that does not read).
      Socket.prototype.destroySoon.call(socket);
      setTimeout(() => socket.destroy(), 1_000).unref();
    };
    schedule(options.graceMs);
  };
}

function hasBody(raw: IncomingMessage): boolean {
  return raw.headers['transfer-encoding'] !== undefined || Number(raw.headers['content-length'] ?? 0) > 0;
}
