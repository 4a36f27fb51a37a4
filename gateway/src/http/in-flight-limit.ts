import type { FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import { GatewayError } from '../errors.js';
import type { GatewayMetrics } from '../observability/metrics.js';

export interface InFlightLimitOptions {
  /**
   * Most requests handled at once; the next one is refused with 503 `OVERLOADED` until one ends.
   * 0 turns the cap off (requests are still counted for the gauge).
   * @default 1000 (`server.maxInFlightRequests`)
   */
  max: number;
  /**
   * Seconds sent in `Retry-After` with a refusal.
   * @default 1 (`server.overloadRetryAfterSeconds`)
   */
  retryAfterSeconds: number;
  /** Requests neither counted nor refused: the probes, so an overloaded gateway still reports live and ready. */
  exempt: (request: FastifyRequest) => boolean;
  /** Counts refusals (`gateway_http_rejections_total{reason="overloaded"}`) and keeps the in-flight gauge. */
  metrics?: GatewayMetrics | undefined;
}

export interface InFlightLimit {
  /** The `onRequest` hook; server.ts registers it before auth, CORS and body parsing. */
  readonly hook: onRequestAsyncHookHandler;
  /** Requests counted now. */
  readonly inFlight: number;
}

/**
 * A cap on requests in flight (load shedding). A request counts from its `onRequest` (headers
 * parsed, body not yet read) until its response is finished or its connection closes, whichever
 * comes first: `close` on the raw response fires in both cases, so an aborted request never leaks a
 * slot. Over the cap the request is answered at once, before authentication, body parsing or any
 * GraphQL work, which is the point: a gateway at its limit should spend nothing on work it cannot do.
 */
export function useInFlightLimit(options: InFlightLimitOptions): InFlightLimit {
  let inFlight = 0;
  const retryAfter = String(options.retryAfterSeconds);
  const release = () => {
    inFlight -= 1;
    options.metrics?.inFlightRequests.set(inFlight);
  };
  const hook = async (request: FastifyRequest, reply: FastifyReply) => {
    if (options.exempt(request)) return;
    if (options.max > 0 && inFlight >= options.max) {
      options.metrics?.httpRejections.inc({ reason: 'overloaded' });
      throw new GatewayError('OVERLOADED', undefined, { 'retry-after': retryAfter });
    }
    inFlight += 1;
    options.metrics?.inFlightRequests.set(inFlight);
    reply.raw.once('close', release);
  };
  return {
    hook,
    get inFlight() {
      return inFlight;
    },
  };
}
