import type { FastifyReply, FastifyRequest } from 'fastify';
import type { RestRequestInfo } from './state.js';
import { GatewayError, type ErrorCode } from '../errors.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import { callFailureOf, describeError, type CallFailure } from '../upstream/call-error.js';
import { BodyTooLargeError } from './body-limit.js';
import { serveKeptCopy, type RouteFallback } from './fallback.js';
import { ClientGoneError, sendAnswer, UpstreamErrorAnswer } from './proxy.js';
import { RouteTimeoutError } from './timeouts.js';

export interface FailedRequest {
  request: FastifyRequest;
  reply: FastifyReply;
  info: RestRequestInfo;
  /** The route's prefix (metric label, log field). */
  prefix: string;
  metrics: GatewayMetrics;
  /** The route's fallback cache and this request's key in it, when it has one (`keptCopyKey`). */
  kept?: { fallback: RouteFallback; key: string } | undefined;
}

/**
 * The answer to a request whose upstream call failed, in this order: nothing (the client left),
 * 413 (its body ran past the limit), a kept copy (GET), the upstream's own 5xx as it sent it, or the
 * gateway's 504 (UPSTREAM_CONNECT_TIMEOUT, UPSTREAM_TIMEOUT, UPSTREAM_RESPONSE_TIMEOUT) / 503 (breaker open, bulkhead full, no replica) / 502 (anything else).
 */
export async function answerFailure(error: unknown, failed: FailedRequest): Promise<FastifyReply> {
  const { request, reply, info } = failed;
  if (error instanceof ClientGoneError) return reply;
  // A request body the upstream stopped reading is left half-read: the connection is closed after the answer.
  const closing: Record<string, string> = request.raw.complete ? {} : { connection: 'close' };
  if (error instanceof BodyTooLargeError) throw new GatewayError('PAYLOAD_TOO_LARGE', undefined, { connection: 'close' });
  info.failure = `${callFailureOf(error)}: ${describeError(error)}`;
  if (error instanceof UpstreamErrorAnswer) info.upstreamStatus = error.answer.status;
  const served = failed.kept ? await serveKeptCopy(failed.kept.fallback.cache, failed.kept.key, failed, error) : undefined;
  if (served) return served;
  // The upstream's own 5xx is passed on as it is: it is the service's answer, not the gateway's.
  if (error instanceof UpstreamErrorAnswer) return sendAnswer(reply.headers(closing), error.answer);
  throw new GatewayError(errorCodeOf(error), undefined, closing);
}

function errorCodeOf(error: unknown): ErrorCode {
  if (error instanceof RouteTimeoutError) {
    if (error.phase === 'connect') return 'UPSTREAM_CONNECT_TIMEOUT';
    if (error.phase === 'response') return 'UPSTREAM_RESPONSE_TIMEOUT';
  }
  const failure: CallFailure = callFailureOf(error);
  if (failure === 'timeout') return 'UPSTREAM_TIMEOUT';
  if (failure === 'breaker_open' || failure === 'bulkhead_rejected' || failure === 'no_replica') return 'UPSTREAM_UNAVAILABLE';
  return 'UPSTREAM_BAD_RESPONSE';
}
