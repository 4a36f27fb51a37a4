import { pipeline } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { cacheControlDirectives } from '../subgraph/cache-policy.js';
import type { Principal } from '../auth/principal.js';
import type { RestRequestInfo } from './state.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import type { RestFallbackCache } from './fallback-cache.js';
import { clientResponseHeaders } from './headers.js';
import { discardAnswer, sendAnswer, type UpstreamAnswer } from './proxy.js';

/**
 * How a route uses its fallback cache: a GET's answer is kept when it is a 200, and a kept copy
 * answers a GET whose upstream call failed (`X-Fallback-Source: cache`, `Age`).
 */
export interface RouteFallback {
  cache: RestFallbackCache;
  /** Copies are shared by every caller (the route is public): the caller is left out of the key. */
  public: boolean;
}

/** The key of this request's kept copy: only GETs have one; undefined otherwise. */
export function keptCopyKey(
  fallback: RouteFallback,
  request: FastifyRequest,
  principal: Principal | undefined,
  target: string,
): string | undefined {
  if (request.method !== 'GET') return undefined;
  return fallback.cache.key(fallback.public ? '' : (principal?.clientKey ?? ''), target, request.headers.accept);
}

/**
 * Whether a 200 may be kept as a copy: not when the upstream forbids storing it (`no-store`), not a
 * `private` answer where copies are shared (a public route), and not a compressed body (the copy
 * would be served to callers that never asked for that encoding, labelled as plain).
 */
export function keepable(headers: Readonly<Record<string, string | string[] | undefined>>, shared: boolean): boolean {
  const encoding = headers['content-encoding'];
  if (encoding !== undefined && String(encoding).trim().toLowerCase() !== 'identity') return false;
  const cacheControl = headers['cache-control'];
  const directives = cacheControlDirectives(Array.isArray(cacheControl) ? cacheControl.join(',') : (cacheControl ?? ''));
  if (directives.has('no-store')) return false;
  return !(shared && directives.has('private'));
}

export interface KeptCopyUse {
  request: FastifyRequest;
  reply: FastifyReply;
  info: RestRequestInfo;
  /** The route's prefix (metric label, log field). */
  prefix: string;
  metrics: GatewayMetrics;
}

/** Answers a failed GET with its kept copy, when there is one; undefined: none (or the store did not answer in time). */
export async function serveKeptCopy(
  cache: RestFallbackCache,
  key: string,
  use: KeptCopyUse,
  error: unknown,
): Promise<FastifyReply | undefined> {
  const kept = await cache.get(key);
  if (!kept) return undefined;
  const { request, reply, info, prefix } = use;
  discardAnswer(error);
  info.fallback = 'cache';
  use.metrics.restFallbacks.inc({ route: prefix });
  request.log.warn({ route: prefix, reason: info.failure }, 'upstream call failed; serving a kept copy');
  return reply
    .code(kept.status)
    .headers(clientResponseHeaders(kept.headers, request))
    .header('x-fallback-source', 'cache')
    .header('age', String(kept.age))
    .send(kept.body);
}

/** Streams a 200 to the client and, unless its copy was looked at moments ago, keeps it on the way (once the body ends complete). */
export function sendKeepingCopy(
  reply: FastifyReply,
  answer: UpstreamAnswer,
  cache: RestFallbackCache,
  key: string,
  onWriteError: (error: unknown) => void,
): FastifyReply {
  const recorder = cache.recorder(key, answer.headers, onWriteError);
  if (!recorder) return sendAnswer(reply, answer);
  pipeline(answer.stream, recorder, () => undefined);
  return sendAnswer(reply, { ...answer, stream: recorder });
}
