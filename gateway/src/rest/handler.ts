import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Principal } from '../auth/principal.js';
import type { RestRouteConfig } from './config.js';
import type { PathParams } from './match.js';
import { requestTransforms } from './apply-transforms.js';
import type { RouteTransforms } from './transforms.js';
import { requestState } from '../context.js';
import type { RestRequestInfo } from './state.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import type { Breaker } from '../upstream/breaker.js';
import type { Bulkhead } from '../upstream/bulkhead.js';
import { describeError } from '../upstream/call-error.js';
import { withRetries } from '../upstream/retry.js';
import { routeCall, type UpstreamRoute } from '../upstream/route.js';
import type { BodyLimits } from './body-limit.js';
import { answerFailure } from './error-answers.js';
import { keepable, keptCopyKey, sendKeepingCopy, type RouteFallback } from './fallback.js';
import { upstreamRequestHeaders, useResponseRules, type ForwardHeaderOptions } from './headers.js';
import { isUpgrade, type WebSocketLimits, type WebSocketRelay } from './websocket.js';
import { discardAnswer, proxyAttempt, sendAnswer, type ProxiedRequest, type UpstreamAnswer } from './proxy.js';
import type { CorsPolicy } from './cors.js';
import { ResponseDeadline, RouteTimeoutError, timeoutPhaseOf, type RouteTimeouts } from './timeouts.js';

/** Methods retried after a connection error or 502/503/504: idempotent and without a (streamed, unreplayable) body. */
const RETRIED_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** One route as its handler serves it, built once when the route is registered. */
export interface RouteRuntime {
  route: RestRouteConfig;
  /** Its breaker, or its replica pool; undefined without breakers (`resilience.enabled: false`). */
  upstream: UpstreamRoute | undefined;
  bulkhead: Bulkhead;
  /** The route's fallback cache (GET answers), when it keeps copies. */
  fallback: RouteFallback | undefined;
  /** The upstream's origin (the first replica's, unused then: the pool picks). */
  origin: string;
  headerOptions: ForwardHeaderOptions;
  /** Per request: the upstream path and query, set by the route's checks. */
  targets: WeakMap<FastifyRequest, string>;
  /** Per request: the path parameters of a pattern route (empty for others), set by the route's checks. */
  params: WeakMap<FastifyRequest, PathParams>;
  /** The route's traffic split: its upstream, breaker, and whether a request goes there. */
  split?:
    | { origin: string; upstream: UpstreamRoute | undefined; goes(request: FastifyRequest, principal: Principal | undefined): boolean }
    | undefined;
  /** The route's compiled transforms, if it has any. */
  transforms: RouteTransforms | undefined;
  /** The route's name (`routeName`): metrics, logs, spans. */
  name: string;
  /** The route's CORS policy (its own `cors`, else `server.cors`); undefined: none. */
  cors: CorsPolicy | undefined;
  /** The route's WebSocket limits, when it relays upgrades. */
  websocket: WebSocketLimits | undefined;
  /** The route's deadlines (its own `timeouts`, else `rest.timeouts`). */
  timeouts: RouteTimeouts;
}

export interface HandlerServices {
  bodyLimits: BodyLimits;
  /** Relays WebSocket upgrades, when a route does. */
  webSockets?: WebSocketRelay | undefined;
  metrics: GatewayMetrics;
  logger: Logger;
}

/**
 * The handler of one route, once the checks, authentication and the budget have let the request
 * through: retries (GET/HEAD/OPTIONS) → bulkhead → breaker or replica → one attempt with the route's
 * timeout → the answer streamed back (a 200 to a GET also kept, when the route keeps copies); on
 * failure, see {@link answerFailure}.
 */
export function createRouteHandler(runtime: RouteRuntime, services: HandlerServices) {
  const { fallback } = runtime;
  return async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const state = requestState(request);
    const info = state.rest as RestRequestInfo;
    const transforms = requestTransforms(
      runtime.transforms,
      request,
      state,
      runtime.params.get(request) ?? {},
      runtime.headerOptions.requestIdHeader,
    );
    const checked = runtime.targets.get(request) as string;
    const target = transforms ? transforms.target(checked) : checked;
    // The route's response rules also apply to an upstream's refusal of a WebSocket upgrade.
    useResponseRules(request, runtime.headerOptions);
    if (runtime.websocket && services.webSockets && isUpgrade(request)) {
      const headers = upstreamRequestHeaders(
        request,
        transforms ? transforms.requestHeaders(request.headers) : request.headers,
        state.principal,
        runtime.headerOptions,
      );
      const hashHeader = runtime.upstream?.replicas?.hashHeader;
      const hashKey = hashHeader ? request.headers[hashHeader] : undefined;
      return services.webSockets.open({
        request,
        reply,
        route: runtime.name,
        limits: runtime.websocket,
        upstream: runtime.upstream,
        origin: runtime.origin,
        target,
        headers: headers as IncomingHttpHeaders,
        hashKey: typeof hashKey === 'string' && hashKey !== '' ? hashKey : undefined,
        handshakeTimeoutMs: runtime.timeouts.connectMs + runtime.timeouts.firstByteMs,
      });
    }
    const key = fallback ? keptCopyKey(fallback, request, state.principal, target) : undefined;
    const deadline = new ResponseDeadline(runtime.timeouts.responseMs);
    const call: ProxiedRequest = {
      request,
      reply,
      prefix: runtime.name,
      timeouts: runtime.timeouts,
      deadline,
      target,
      state,
      info,
      headerOptions: runtime.headerOptions,
      bodyCut: () => services.bodyLimits.wasCut(request),
      breakerState: () => runtime.upstream?.breaker?.state,
      transformHeaders: transforms?.requestHeaders,
    };
    let answer: UpstreamAnswer;
    const split = runtime.split?.goes(request, state.principal) ? runtime.split : undefined;
    const failed = (error: unknown, count: boolean) => {
      deadline.clear();
      if (count) countTimeout(runtime, services.metrics, error);
      const kept = fallback && key ? { fallback, key } : undefined;
      return answerFailure(error, { request, reply, info, prefix: runtime.name, metrics: services.metrics, kept });
    };
    try {
      if (split) info.split = true;
      answer = await callUpstream(runtime, call, split ?? runtime, services.metrics);
    } catch (error) {
      return failed(error, true);
    }
    info.upstreamStatus = answer.status;
    watchBody(answer.stream, deadline, (error) => {
      // The answer's status and headers came in time, its body did not: a failed call all the same.
      info.failure = `timeout: ${describeError(error)}`;
      countTimeout(runtime, services.metrics, error);
      breakerOf((split ?? runtime).upstream, call.origin)
        ?.run(() => Promise.reject(error))
        .catch(() => undefined);
    });
    // Whether a copy may be kept is the upstream's word, not what a header transform made of it.
    const upstreamHeaders = answer.headers;
    if (transforms) {
      try {
        answer = await transforms.answer(answer, info);
      } catch (error) {
        // The body failed while the JSON transform read it, before anything was sent: still an error answer.
        return failed(asTimeout(error) ?? error, false);
      }
    }
    if (key && fallback && answer.status === 200 && keepable(upstreamHeaders, fallback.public)) {
      return sendKeepingCopy(reply, answer, fallback.cache, key, (error) =>
        services.logger.debug({ route: runtime.name, err: describeError(error) }, 'REST fallback cache write failed'),
      );
    }
    return sendAnswer(reply, answer);
  };
}

/** Clears the request's deadline when the upstream's body ends; reports a deadline the body ran past. */
function watchBody(stream: Readable, deadline: ResponseDeadline, onTimeout: (error: RouteTimeoutError) => void): void {
  stream.once('close', () => deadline.clear());
  stream.once('error', (error) => {
    const timeout = asTimeout(error);
    if (timeout) onTimeout(timeout);
  });
}

function asTimeout(error: unknown): RouteTimeoutError | undefined {
  if (error instanceof RouteTimeoutError) return error;
  const phase = timeoutPhaseOf(error);
  return phase && new RouteTimeoutError(phase, error instanceof Error ? error.message : String(error), { cause: error });
}

/** The breaker an answer's failure counts on: the route's (or its split's), or that of the replica that answered. */
function breakerOf(upstream: UpstreamRoute | undefined, origin: string | undefined): Breaker | undefined {
  return upstream?.breaker ?? upstream?.replicas?.pool.replicas.find((replica) => replica.url === origin)?.breaker;
}

function countTimeout(runtime: RouteRuntime, metrics: GatewayMetrics, error: unknown): void {
  const phase = error instanceof RouteTimeoutError ? error.phase : undefined;
  if (phase) metrics.restTimeouts.inc({ route: runtime.name, phase });
}

/** The upstream call of one request, retried as the route allows; rejects with the last attempt's failure. */
function callUpstream(
  runtime: RouteRuntime,
  call: ProxiedRequest,
  to: { origin: string; upstream: UpstreamRoute | undefined },
  metrics: GatewayMetrics,
): Promise<UpstreamAnswer> {
  const { route, bulkhead } = runtime;
  const upstream = to.upstream;
  const { request } = call;
  const maxRetries = RETRIED_METHODS.has(request.method) ? route.retries.maxRetries : 0;
  const hashHeader = upstream?.replicas?.hashHeader;
  const hashKey = hashHeader ? request.headers[hashHeader] : undefined;
  // With replicas, a retry goes to another one while there is one.
  const routed = routeCall(upstream, to.origin, typeof hashKey === 'string' && hashKey !== '' ? hashKey : undefined);
  return withRetries(() => bulkhead.run(() => routed.attempt((origin) => proxyAttempt(call, origin))), {
    maxRetries,
    baseDelayMs: route.retries.baseDelayMs,
    maxDelayMs: route.retries.maxDelayMs,
    deadline: Math.min(
      call.state.receivedAt + (call.timeouts.connectMs + call.timeouts.firstByteMs) * (maxRetries + 1),
      Date.now() + call.deadline.ms,
    ),
    isRetryable: routed.isRetryable,
    onRetry: (retry, error, delayMs) => {
      discardAnswer(error);
      // A retried attempt's deadline (connect: the request was never sent) counts like the last one's.
      countTimeout(runtime, metrics, error);
      request.log.debug({ route: runtime.name, retry, delayMs, reason: describeError(error) }, 'retrying upstream call');
    },
  });
}
