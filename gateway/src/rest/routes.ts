import type { FastifyInstance, onRequestAsyncHookHandler } from 'fastify';
import type { Logger } from 'pino';
import type { CacheStore } from '../cache/store.js';
import { gatewayHeaderNames, responseGuard, restRequestGuard } from '../headers/guards.js';
import { compileHeaderRules } from '../headers/rules.js';
import { subgraphSettings } from '../subgraph/config.js';
import { routeLoadBalancing, routeReplicas, type RestRouteConfig, type RestSections } from './config.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import type { BudgetService } from '../rate-limit/budget-service.js';
import type { BreakerRegistry, BreakerSnapshot } from '../upstream/breaker.js';
import { createBulkhead } from '../upstream/bulkhead.js';
import { createUpstreamFetch, type UpstreamPool } from '../upstream/pool.js';
import type { ReplicaSnapshot } from '../upstream/replica-pool.js';
import { ReplicaPools } from '../upstream/replica-pools.js';
import type { UpstreamRoute } from '../upstream/route.js';
import type { BodyLimits } from './body-limit.js';
import { RestFallbackCache } from './fallback-cache.js';
import { createRouteHandler, type RouteRuntime } from './handler.js';
import { authorize, charge, checkRequest } from './route-checks.js';

/** Every method a route may be asked with; those a route does not allow get 405 with `Allow`. */
const ALL_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

export interface RouteTableOptions {
  config: RestSections;
  /** The gateway's authentication hook (sets the principal or refuses with 401/503). */
  authenticate: onRequestAsyncHookHandler;
  /** The client budget shared with GraphQL; undefined: REST requests are not charged. */
  budget?: BudgetService | undefined;
  /** The breaker registry shared with the subgraphs; undefined (resilience off): no breakers. */
  breakers?: BreakerRegistry | undefined;
  /** The fallback cache shared with the subgraphs; undefined: no GET fallback. */
  cache?: CacheStore | undefined;
  bodyLimits: BodyLimits;
  metrics: GatewayMetrics;
  logger: Logger;
}

export interface RouteSnapshot {
  prefix: string;
  upstream: string;
  breaker: string | null;
  state: BreakerSnapshot | null;
  replicas?: ReplicaSnapshot[];
}

export interface RouteTable {
  /** Registers every route (each prefix, and everything below it) on the passthrough's plugin. */
  register(app: FastifyInstance): void;
  /** Each route, its upstream (replicas: their origins, comma-separated, and each one's state) and its breaker state, for `/ready`. */
  snapshot(): RouteSnapshot[];
  /** Stops the replicas' health checks. */
  stopChecks(): void;
  /** Closes the health checks' connection pool. */
  closeConnections(): Promise<void>;
}

/**
 * The configured routes and how each reaches its upstream. A route's breaker is `route.breaker`
 * (a subgraph's name shares that subgraph's breaker) or `rest:<prefix>`. Routes with two or more
 * `upstreams` get a replica pool, through the same balancer as replicated subgraphs: each replica
 * has its own breaker (`<route breaker>@<origin>`) and the route's own breaker is not used. Active
 * checks run only when the route names a `healthCheck.path`: a REST service has no probe that fits
 * every service, as `{__typename}` fits every GraphQL one.
 */
export function createRouteTable(options: RouteTableOptions): RouteTable {
  const { config, breakers, metrics, logger } = options;
  const routes = config.rest.routes;
  const breakerNameOf = (route: RestRouteConfig) => route.breaker ?? `rest:${route.prefix}`;
  // A subgraph's name takes that subgraph's breaker settings (used if the breaker is created here first).
  const breakerSettingsOf = (name: string) =>
    config.subgraphs[name] ? subgraphSettings(config, name).breaker : config.resilience.subgraphDefaults.breaker;
  const poolNameOf = (route: RestRouteConfig) => `rest:${route.prefix}`;

  let probePool: UpstreamPool | undefined;
  const probe = () => (probePool ??= createUpstreamFetch({ connectionsPerOrigin: 4 })).fetch;
  const pools = breakers && new ReplicaPools({ breakers, metrics, logger });
  for (const route of routes) {
    const upstreams = routeReplicas(route);
    if (!upstreams || !pools) continue;
    const balancing = routeLoadBalancing(config, route);
    const name = breakerNameOf(route);
    pools.create({
      name: poolNameOf(route),
      breakerOwner: name,
      breakerSettings: breakerSettingsOf(name),
      upstreams: upstreams.map(({ url, weight }) => ({ url: new URL(url).origin, weight })),
      balancing,
      probe: balancing.healthCheck.path ? probe : undefined,
    });
  }

  /** The route's breaker or replica pool; its breaker is created here, on registration. */
  const upstreamOf = (route: RestRouteConfig): UpstreamRoute | undefined => {
    const replicas = pools?.get(poolNameOf(route));
    if (replicas) return { replicas };
    const name = breakerNameOf(route);
    const breaker = breakers?.get(name, breakerSettingsOf(name));
    return breaker && { breaker };
  };

  const headerNames = gatewayHeaderNames(config);
  const register = (app: FastifyInstance, route: RestRouteConfig) => {
    const runtime: RouteRuntime = {
      route,
      upstream: upstreamOf(route),
      bulkhead: createBulkhead({ name: `rest:${route.prefix}`, maxConcurrent: route.maxConcurrent }),
      fallback:
        route.fallback.cache && options.cache
          ? {
              cache: new RestFallbackCache(options.cache, route.prefix, {
                ttlMs: route.fallback.ttlMs,
                maxBodyBytes: route.fallback.maxBodyBytes,
                readTimeoutMs: config.resilience.cacheReadTimeoutMs,
              }),
              public: route.fallback.public,
            }
          : undefined,
      origin: new URL(route.upstream ?? route.upstreams?.[0]?.url ?? '').origin,
      headerOptions: {
        requestIdHeader: config.server.requestIdHeader.toLowerCase(),
        apiKeyHeader: config.auth.apiKeys.header.toLowerCase(),
        propagation: config.auth.propagation,
        forwardAuthorization: route.auth.forwardAuthorization,
        rules: route.headers && {
          request: compileHeaderRules(route.headers.request, restRequestGuard(headerNames)),
          response: compileHeaderRules(route.headers.response, responseGuard(headerNames)),
        },
      },
      targets: new WeakMap(),
    };
    const routeOptions = {
      method: [...ALL_METHODS],
      exposeHeadRoute: false,
      onRequest: [
        checkRequest(route, runtime.targets, options.bodyLimits),
        options.authenticate,
        authorize(route, config.auth.realm),
        charge(route, config.rateLimit, options.budget),
      ],
      handler: createRouteHandler(runtime, options),
    };
    app.route({ ...routeOptions, url: route.prefix });
    app.route({ ...routeOptions, url: route.prefix === '/' ? '/*' : `${route.prefix}/*` });
  };

  return {
    register(app) {
      for (const route of routes) register(app, route);
    },
    snapshot: () =>
      routes.map((route) => {
        const replicas = pools?.get(poolNameOf(route))?.pool.snapshot();
        const upstream = route.upstream ?? (route.upstreams ?? []).map(({ url }) => new URL(url).origin).join(', ');
        const name = breakers && !replicas ? breakerNameOf(route) : null;
        const state = (name && breakers?.find(name)?.snapshot()) || null;
        return replicas
          ? { prefix: route.prefix, upstream, breaker: name, state, replicas }
          : { prefix: route.prefix, upstream, breaker: name, state };
      }),
    stopChecks: () => pools?.close(),
    closeConnections: async () => {
      await probePool?.close().catch(() => undefined);
    },
  };
}
