import type { IncomingHttpHeaders } from 'node:http';
import { finished, pipeline, Transform, type Readable } from 'node:stream';
import replyFrom from '@fastify/reply-from';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import { SpanKind, type Span } from '@opentelemetry/api';
import type { Logger } from 'pino';
import { Agent } from 'undici';
import { hasScopes } from '../auth/principal.js';
import type { CacheStore } from '../cache/store.js';
import { routeLoadBalancing, routeReplicas, subgraphSettings, type GatewayConfig, type RestRouteConfig } from '../config.js';
import { requestState, type RestRequestInfo } from '../context.js';
import { GatewayError } from '../errors.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import { failSpan } from '../observability/request-trace.js';
import type { BudgetService } from '../rate-limit/budget-service.js';
import { resolvePolicy } from '../rate-limit/policy.js';
import { bindingLimit } from '../rate-limit/headers.js';
import type { BreakerRegistry, BreakerSnapshot } from '../resilience/breaker.js';
import { createBulkhead, type Bulkhead } from '../resilience/bulkhead.js';
import { withRetries } from '../resilience/retry.js';
import {
  callFailureOf,
  describeError,
  isBreakerFailure,
  isRetryable,
  isRetryableOnReplicas,
  SubgraphCallError,
} from '../subgraph/call-error.js';
import { createSubgraphFetch, type SubgraphFetch } from '../subgraph/fetch.js';
import { startHealthChecks, type HealthChecker } from '../upstream/health-check.js';
import { ReplicaPool, replicaBreakerName, type Replica, type ReplicaSnapshot } from '../upstream/replica-pool.js';
import { RestFallbackCache } from './fallback-cache.js';
import { clientResponseHeaders, upstreamRequestHeaders, type ForwardHeaderOptions } from './headers.js';
import { splitTarget, upstreamPath } from './path.js';

export interface RestPassthroughOptions {
  config: GatewayConfig;
  /** The gateway's authentication hook (sets the principal or refuses with 401/503). */
  authenticate: onRequestAsyncHookHandler;
  /** The client budget shared with GraphQL; undefined: REST requests are not charged. */
  budget?: BudgetService | undefined;
  /** The breaker registry shared with the subgraphs; undefined (resilience off): no breakers. */
  breakers?: BreakerRegistry | undefined;
  /** The fallback cache shared with the subgraphs; undefined: no GET fallback. */
  cache?: CacheStore | undefined;
  metrics: GatewayMetrics;
  logger: Logger;
}

export interface RestPassthrough {
  /** The encapsulated Fastify plugin with every route; register it once. */
  plugin: FastifyPluginAsync;
  /** Each route, its upstream (replicas: their origins, comma-separated, and each one's state) and its breaker state, for `/ready`. */
  snapshot(): { prefix: string; upstream: string; breaker: string | null; state: BreakerSnapshot | null; replicas?: ReplicaSnapshot[] }[];
  /** Stops the replicas' health checks (the gateway closes). */
  close(): void;
}

/** Every method a route may be asked with; those a route does not allow get 405 with `Allow`. */
const ALL_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
/** Methods retried after a connection error or 502/503/504: idempotent and without a (streamed, unreplayable) body. */
const RETRIED_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** An upstream answer whose body has not been read: it is streamed to the client. */
interface UpstreamAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  stream: Readable;
}

/** A 5xx from the upstream: a failure for breaker and retries, yet an answer that can be passed on. */
class UpstreamErrorAnswer extends SubgraphCallError {
  constructor(readonly answer: UpstreamAnswer) {
    super('http_error', `HTTP ${answer.status}`, answer.status);
  }
}

/** The client went away before the upstream answered: not the upstream's fault, nothing to send. */
class ClientGoneError extends Error {}

/** A chunked request body ran past the route's `maxBodyBytes`: the client's fault, not the upstream's. */
class BodyTooLargeError extends Error {}

/**
 * The REST passthrough: one encapsulated Fastify plugin that serves each configured route prefix by
 * proxying to its upstream with `@fastify/reply-from` on an undici Agent, bodies streaming both
 * ways (the plugin's content-type parser hands the raw request stream on, unparsed).
 *
 * Per request, in order: route and method check (405) → path safety (400, see path.ts) →
 * authentication (the gateway's hook) → route auth (401 / 403 with scopes) → budget charge of the
 * route's cost to the client's shared budget (429) → retries (GET/HEAD/OPTIONS) → bulkhead →
 * breaker → one attempt with the route's timeout → the answer streamed back; on failure of a GET:
 * a kept copy (`X-Fallback-Source: cache`, `Age`) → the upstream's own 5xx, if it sent one → 502 /
 * 503 / 504. Redirects are passed through untouched (undici does not follow them).
 */
export function createRestPassthrough(options: RestPassthroughOptions): RestPassthrough {
  const { config, metrics, logger } = options;
  const routes = config.rest.routes;
  const breakerNameOf = (route: RestRouteConfig) => route.breaker ?? `rest:${route.prefix}`;
  // A subgraph's name takes that subgraph's breaker settings (used if the breaker is created here first).
  const breakerSettingsOf = (name: string) =>
    config.subgraphs[name] ? subgraphSettings(config, name).breaker : config.resilience.subgraphDefaults.breaker;
  const breakerOf = (route: RestRouteConfig) => {
    const name = breakerNameOf(route);
    return options.breakers?.get(name, breakerSettingsOf(name));
  };

  /**
   * Routes with two or more `upstreams`: a pool per route, through the same balancer as replicated
   * subgraphs. Each replica has its own breaker (`<route breaker>@<origin>`); the route's own
   * breaker is not used then. Active checks run only when the route names a `healthCheck.path`:
   * a REST service has no probe that fits every service, as `{__typename}` fits every GraphQL one.
   */
  const pools = new Map<string, { pool: ReplicaPool; hashHeader?: string | undefined }>();
  const checkers: HealthChecker[] = [];
  let probeFetch: SubgraphFetch | undefined;
  for (const route of routes) {
    const upstreams = routeReplicas(route);
    const breakers = options.breakers;
    if (!upstreams || !breakers) continue;
    const balancing = routeLoadBalancing(config, route);
    const name = breakerNameOf(route);
    const settings = breakerSettingsOf(name);
    const pool = new ReplicaPool({
      name: `rest:${route.prefix}`,
      upstreams: upstreams.map(({ url, weight }) => ({ url: new URL(url).origin, weight })),
      strategy: balancing.strategy,
      ejection: balancing.ejection,
      breakerFor: (url) => breakers.get(replicaBreakerName(name, url), settings),
      isFailure: isBreakerFailure,
      metrics,
      logger,
    });
    pools.set(route.prefix, { pool, hashHeader: balancing.strategy === 'consistent_hash' ? balancing.hashHeader : undefined });
    if (balancing.healthCheck.enabled && balancing.healthCheck.path) {
      probeFetch ??= createSubgraphFetch({ connectionsPerOrigin: 4 });
      checkers.push(startHealthChecks({ pool, fetch: probeFetch.fetch, settings: balancing.healthCheck, logger }));
    }
  }
  const refreshStates = () => {
    for (const { pool } of pools.values()) pool.publishStates();
  };
  if (pools.size > 0) metrics.beforeReplicaStateCollect.add(refreshStates);

  /** Per request: the route's body limit (set by its first hook, read by the body parser). */
  const bodyLimits = new WeakMap<FastifyRequest, number>();
  /** Requests whose body was cut for running past the limit. */
  const cutBodies = new WeakSet<FastifyRequest>();

  const plugin: FastifyPluginAsync = async (app) => {
    // Bodies are never parsed: the raw request stream is the body reply-from forwards, through a
    // byte counter when the route has a limit.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', (request, payload, done) => {
      const limit = bodyLimits.get(request);
      if (limit === undefined) return done(null, payload);
      let seen = 0;
      const counted = new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          seen += chunk.length;
          if (seen > limit) {
            cutBodies.add(request);
            return callback(new BodyTooLargeError(`request body over ${limit} bytes`));
          }
          callback(null, chunk);
        },
      });
      // Not `pipeline`: stopped by the counter, it would destroy the request and its socket, and the
      // client would get a reset instead of its 413. The rest of the body flows on, to no one
      // (lingering close bounds it); a request that breaks off still ends the counter.
      payload.pipe(counted);
      finished(payload, (error) => {
        if (error) counted.destroy(error);
      });
      counted.once('error', () => {
        payload.unpipe(counted);
        payload.resume();
      });
      done(null, counted);
    });
    // Its own pool; TLS certificates are verified (reply-from's own agents would not verify them).
    const agent = new Agent({ keepAliveTimeout: 10_000, connections: 128 });
    await app.register(replyFrom, { undici: agent, disableRequestLogging: true, disableCache: true, retryMethods: [] });
    app.addHook('onClose', async () => {
      await agent.close().catch(() => undefined);
      await probeFetch?.close().catch(() => undefined);
    });
    for (const route of routes) registerRoute(app, route);
  };

  function registerRoute(app: FastifyInstance, route: RestRouteConfig): void {
    const replicas = pools.get(route.prefix);
    const breaker = replicas ? undefined : breakerOf(route);
    const bulkhead: Bulkhead = createBulkhead({ name: `rest:${route.prefix}`, maxConcurrent: route.maxConcurrent });
    const fallback =
      route.fallback.cache && options.cache
        ? new RestFallbackCache(options.cache, route.prefix, {
            ttlMs: route.fallback.ttlMs,
            maxBodyBytes: route.fallback.maxBodyBytes,
            readTimeoutMs: config.resilience.cacheReadTimeoutMs,
          })
        : undefined;
    const origin = new URL(route.upstream ?? route.upstreams?.[0]?.url ?? '').origin;
    const allowed = new Set<string>(route.methods);
    const headerOptions: ForwardHeaderOptions = {
      requestIdHeader: config.server.requestIdHeader.toLowerCase(),
      apiKeyHeader: config.auth.apiKeys.header.toLowerCase(),
      propagation: config.auth.propagation,
      forwardAuthorization: route.auth.forwardAuthorization,
    };
    const targets = new WeakMap<FastifyRequest, string>();

    const checkRequest: onRequestAsyncHookHandler = async (request) => {
      const info: RestRequestInfo = { route: route.prefix, attempts: 0 };
      requestState(request).rest = info;
      if (!allowed.has(request.method)) throw new GatewayError('METHOD_NOT_ALLOWED', undefined, { allow: route.methods.join(', ') });
      const { path, query } = splitTarget(request.raw.url ?? request.url);
      const mapped = upstreamPath(path, route.prefix, route.rewrite);
      if (!mapped.ok) {
        info.failure = `path refused: ${mapped.reason}`;
        throw new GatewayError('INVALID_PATH');
      }
      targets.set(request, mapped.path + query);
      if (route.maxBodyBytes !== undefined) {
        // The body is left unread: the connection cannot serve another request, so it is closed.
        if (Number(request.headers['content-length'] ?? 0) > route.maxBodyBytes)
          throw new GatewayError('PAYLOAD_TOO_LARGE', undefined, { connection: 'close' });
        bodyLimits.set(request, route.maxBodyBytes);
      }
    };

    const authorize: onRequestAsyncHookHandler = async (request) => {
      const principal = requestState(request).principal;
      if (route.auth.mode === 'required' && (!principal || principal.kind === 'anonymous')) {
        throw new GatewayError('UNAUTHENTICATED', undefined, { 'www-authenticate': `Bearer realm="${config.auth.realm}"` });
      }
      const scopes = route.auth.scopes;
      if (scopes.length > 0 && !hasScopes(principal, [scopes])) {
        throw new GatewayError('FORBIDDEN', `This route needs the scope${scopes.length > 1 ? 's' : ''} ${scopes.join(' ')}.`, {
          'www-authenticate': `Bearer realm="${config.auth.realm}", error="insufficient_scope", scope="${scopes.join(' ')}"`,
        });
      }
    };

    const charge: onRequestAsyncHookHandler = async (request, reply) => {
      const principal = requestState(request).principal;
      if (!options.budget || route.cost === 0 || !principal) return;
      const policy = resolvePolicy(config.rateLimit.tiers, config.rateLimit.defaultTier, principal.tier, { rootFields: [] });
      const outcome = await options.budget.charge({ clientKey: principal.clientKey, tier: policy.tier }, route.cost, policy.limits);
      requestState(request).rateLimit = {
        result: outcome.result,
        remaining: outcome.result === 'unavailable' ? undefined : bindingLimit(outcome.limits)?.remaining,
      };
      if (outcome.result === 'limited') throw new GatewayError('RATE_LIMITED', undefined, outcome.headers);
      if (outcome.result === 'unavailable') throw new GatewayError('RATE_LIMIT_UNAVAILABLE', undefined, { 'retry-after': '1' });
      reply.headers(outcome.headers);
    };

    const handler = async (request: FastifyRequest, reply: FastifyReply) => {
      const state = requestState(request);
      const info = state.rest as RestRequestInfo;
      const target = targets.get(request) as string;
      const principal = state.principal;
      const key =
        fallback && request.method === 'GET'
          ? fallback.key(route.fallback.public ? '' : (principal?.clientKey ?? ''), target, request.headers.accept)
          : undefined;

      /** One upstream call to `upstreamOrigin` (a replica's, when the route has several); `span`: the attempt's span, whose traceparent goes out with it. */
      const callUpstream = (upstreamOrigin: string, span: Span | undefined) =>
        new Promise<UpstreamAnswer>((resolve, reject) => {
          info.attempts++;
          let abandoned = false;
          const gone = () => {
            if (reply.raw.writableFinished) return;
            abandoned = true;
            reject(new ClientGoneError('client closed the connection'));
          };
          reply.raw.once('close', gone);
          const settle = () => reply.raw.off('close', gone);
          reply.from(upstreamOrigin + target, {
            timeout: route.timeoutMs,
            retryDelay: () => null,
            rewriteRequestHeaders: (req, headers) => {
              const forwarded = upstreamRequestHeaders(req as FastifyRequest, headers as IncomingHttpHeaders, principal, headerOptions);
              // Traced: the upstream continues from this attempt's span, whatever the client sent.
              if (span && state.trace) state.trace.inject(span, forwarded);
              return forwarded as IncomingHttpHeaders;
            },
            // Headers are copied when the answer is sent (a retry or a fallback must not inherit them).
            rewriteHeaders: () => ({}),
            onResponse: (_req, _reply, raw) => {
              settle();
              // reply-from hands over undici's answer: statusCode, headers and the body stream.
              const res = raw as unknown as { statusCode: number; headers: IncomingHttpHeaders; stream: Readable };
              const answer: UpstreamAnswer = { status: res.statusCode, headers: res.headers, stream: res.stream };
              // Nobody will read it (the client left while it was on its way): free the upstream connection.
              if (abandoned) return void discardStream(answer.stream);
              if (answer.status >= 500) reject(new UpstreamErrorAnswer(answer));
              else resolve(answer);
            },
            onError: (_reply, { error }) => {
              settle();
              reject(cutBodies.has(request) ? new BodyTooLargeError('request body over the route limit') : callErrorOf(error));
            },
          });
        });

      // Traced: each attempt is a client span `gateway.rest.attempt` (until the upstream's response
      // headers, or its failure), and the upstream gets that span's traceparent.
      const attempt = async (upstreamOrigin: string): Promise<UpstreamAnswer> => {
        const trace = state.trace;
        if (!trace) return callUpstream(upstreamOrigin, undefined);
        const upstreamUrl = new URL(upstreamOrigin);
        const span = trace.startSpan(
          'gateway.rest.attempt',
          {
            'gateway.rest.route': route.prefix,
            'gateway.attempt': info.attempts + 1,
            ...(breaker ? { 'gateway.breaker.state': breaker.state } : {}),
            'http.request.method': request.method,
            'server.address': upstreamUrl.hostname,
            'server.port': Number(upstreamUrl.port || (upstreamUrl.protocol === 'https:' ? 443 : 80)),
            'url.path': target.split('?')[0] ?? target,
          },
          SpanKind.CLIENT,
        );
        try {
          const answer = await callUpstream(upstreamOrigin, span);
          span.setAttribute('http.response.status_code', answer.status);
          return answer;
        } catch (error) {
          if (error instanceof UpstreamErrorAnswer) span.setAttribute('http.response.status_code', error.answer.status);
          failSpan(
            span,
            error instanceof ClientGoneError ? 'client_gone' : callFailureOf(error),
            error instanceof Error ? error.message : String(error),
          );
          throw error;
        } finally {
          span.end();
        }
      };

      const maxRetries = RETRIED_METHODS.has(request.method) ? route.retries.maxRetries : 0;
      let answer: UpstreamAnswer;
      // Replicas this request has tried: a retry goes to another one while there is one.
      const tried = new Set<Replica>();
      const hashKey = replicas?.hashHeader ? request.headers[replicas.hashHeader] : undefined;
      const once = () => {
        if (replicas) return replicas.pool.run(tried, typeof hashKey === 'string' && hashKey !== '' ? hashKey : undefined, attempt);
        return breaker ? breaker.run(() => attempt(origin)) : attempt(origin);
      };
      try {
        answer = await withRetries(() => bulkhead.run(once), {
          maxRetries,
          baseDelayMs: route.retries.baseDelayMs,
          maxDelayMs: route.retries.maxDelayMs,
          deadline: state.receivedAt + route.timeoutMs * (maxRetries + 1),
          isRetryable: replicas ? isRetryableOnReplicas : isRetryable,
          onRetry: (retry, error, delayMs) => {
            discard(error);
            request.log.debug({ route: route.prefix, retry, delayMs, reason: describeError(error) }, 'retrying upstream call');
          },
        });
      } catch (error) {
        if (error instanceof ClientGoneError) return reply;
        // A request body the upstream stopped reading is left half-read: the connection is closed after the answer.
        const closing: Record<string, string> = request.raw.complete ? {} : { connection: 'close' };
        if (error instanceof BodyTooLargeError) throw new GatewayError('PAYLOAD_TOO_LARGE', undefined, { connection: 'close' });
        info.failure = `${callFailureOf(error)}: ${describeError(error)}`;
        if (error instanceof UpstreamErrorAnswer) info.upstreamStatus = error.answer.status;
        const kept = key && fallback ? await fallback.get(key) : undefined;
        if (kept) {
          discard(error);
          info.fallback = 'cache';
          metrics.restFallbacks.inc({ route: route.prefix });
          request.log.warn({ route: route.prefix, reason: info.failure }, 'upstream call failed; serving a kept copy');
          return reply
            .code(kept.status)
            .headers(kept.headers)
            .header('x-fallback-source', 'cache')
            .header('age', String(kept.age))
            .send(kept.body);
        }
        // The upstream's own 5xx is passed on as it is: it is the service's answer, not the gateway's.
        if (error instanceof UpstreamErrorAnswer) return send(reply.headers(closing), error.answer);
        const failure = callFailureOf(error);
        throw new GatewayError(
          failure === 'timeout'
            ? 'UPSTREAM_TIMEOUT'
            : failure === 'breaker_open' || failure === 'bulkhead_rejected' || failure === 'no_replica'
              ? 'UPSTREAM_UNAVAILABLE'
              : 'UPSTREAM_BAD_RESPONSE',
          undefined,
          closing,
        );
      }
      info.upstreamStatus = answer.status;
      if (key && fallback && answer.status === 200) {
        const recorder = fallback.recorder(key, answer.headers, (error) =>
          logger.debug({ route: route.prefix, err: describeError(error) }, 'REST fallback cache write failed'),
        );
        pipeline(answer.stream, recorder, () => undefined);
        return send(reply, { ...answer, stream: recorder });
      }
      return send(reply, answer);
    };

    const routeOptions = {
      method: [...ALL_METHODS],
      exposeHeadRoute: false,
      onRequest: [checkRequest, options.authenticate, authorize, charge],
      handler,
    };
    app.route({ ...routeOptions, url: route.prefix });
    app.route({ ...routeOptions, url: route.prefix === '/' ? '/*' : `${route.prefix}/*` });
  }

  return {
    plugin,
    snapshot: () =>
      routes.map((route) => {
        const replicas = pools.get(route.prefix)?.pool.snapshot();
        const upstream = route.upstream ?? (route.upstreams ?? []).map(({ url }) => new URL(url).origin).join(', ');
        const name = options.breakers && !replicas ? breakerNameOf(route) : null;
        const state = (name && options.breakers?.find(name)?.snapshot()) || null;
        return replicas
          ? { prefix: route.prefix, upstream, breaker: name, state, replicas }
          : { prefix: route.prefix, upstream, breaker: name, state };
      }),
    close() {
      for (const checker of checkers) checker.stop();
      metrics.beforeReplicaStateCollect.delete(refreshStates);
    },
  };
}

function send(reply: FastifyReply, answer: UpstreamAnswer): FastifyReply {
  return reply.code(answer.status).headers(clientResponseHeaders(answer.headers)).send(answer.stream);
}

/** Drops the unread body of an upstream answer that will not be sent (a retried or replaced 5xx). */
function discard(error: unknown): void {
  if (error instanceof UpstreamErrorAnswer) discardStream(error.answer.stream);
}

function discardStream(stream: Readable): void {
  stream.on('error', () => undefined);
  stream.destroy();
}

/** reply-from's error, as the failure kinds the breaker and retries know. */
function callErrorOf(error: Error): SubgraphCallError {
  const code = (error as { code?: string }).code;
  const cause = (error as { cause?: unknown }).cause ?? error;
  if (code === 'FST_REPLY_FROM_GATEWAY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'FST_REPLY_FROM_TIMEOUT') {
    return new SubgraphCallError('timeout', error.message, undefined, { cause });
  }
  const message = cause instanceof Error ? cause.message : error.message;
  return new SubgraphCallError('network_error', message, undefined, { cause });
}
