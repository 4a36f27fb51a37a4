import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import type { Logger } from 'pino';
import type { CacheStore } from '../cache/store.js';
import { gatewayHeaderNames, responseGuard, restRequestGuard } from '../headers/guards.js';
import { compileHeaderRules } from '../headers/rules.js';
import { subgraphSettings } from '../subgraph/config.js';
import { routeLoadBalancing, routeName, routeReplicas, type RestRouteConfig, type RestSections } from './config.js';
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

type RouteHandler = ReturnType<typeof createRouteHandler>;
import { compileRoutes } from './match.js';
import { authorize, charge, selectRoute } from './route-checks.js';
import { limitRequests } from './route-limit.js';
import { compileTransforms } from './transforms.js';
import { compileSplit } from './split.js';
import { routeTimeouts } from './timeouts.js';
import { compileCors } from './cors.js';
import { webSocketLimits, type WebSocketRelay } from './websocket.js';
import type { BudgetStore } from '../rate-limit/budget.js';

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
  /** Where routes' own request limits are counted (the budget's store); undefined: no route has a limit. */
  limitStore?: BudgetStore | undefined;
  bodyLimits: BodyLimits;
  /** Relays WebSocket upgrades; undefined: no route does. */
  webSockets?: WebSocketRelay | undefined;
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
  /** Whether a path is under one of the routes' mounts (known once registered). */
  owns(path: string): boolean;
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
  const breakerNameOf = (route: RestRouteConfig) => route.breaker ?? `rest:${routeName(route)}`;
  // A subgraph's name takes that subgraph's breaker settings (used if the breaker is created here first).
  const breakerSettingsOf = (name: string) =>
    config.subgraphs[name] ? subgraphSettings(config, name).breaker : config.resilience.subgraphDefaults.breaker;
  const poolNameOf = (route: RestRouteConfig) => `rest:${routeName(route)}`;

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

  const runtimeOf = (route: RestRouteConfig): RouteRuntime => {
    const name = routeName(route);
    return {
      route,
      name,
      upstream: upstreamOf(route),
      bulkhead: createBulkhead({ name: `rest:${name}`, maxConcurrent: route.maxConcurrent }),
      fallback:
        route.fallback.cache && options.cache
          ? {
              cache: new RestFallbackCache(options.cache, name, {
                ttlMs: route.fallback.ttlMs,
                maxBodyBytes: route.fallback.maxBodyBytes,
                readTimeoutMs: config.resilience.cacheReadTimeoutMs,
              }),
              public: route.fallback.public,
            }
          : undefined,
      origin: new URL(route.upstream ?? route.upstreams?.[0]?.url ?? '').origin,
      headerOptions: headerOptionsOf(config, route),
      targets: new WeakMap(),
      params: new WeakMap(),
      transforms: compileTransforms(route.transform),
      timeouts: routeTimeouts(config.rest.timeouts, route.timeouts),
      websocket: webSocketLimits(route.websocket),
      cors: compileCors(route.cors, config.server.cors, route.methods, config.server.requestIdHeader),
      split: route.split && {
        origin: new URL(route.split.upstream).origin,
        upstream: (() => {
          const breaker = breakers?.get(`rest:${name}~split`, breakerSettingsOf(breakerNameOf(route)));
          return breaker && { breaker };
        })(),
        goes: compileSplit(route.split),
      },
    };
  };

  /**
   * Fastify routes by path only: each route's mount (its path up to the first parameter) and
   * everything below it get one catch-all, and the first hook chooses the route (see match.ts).
   */
  const registerAll = (app: FastifyInstance) => {
    const runtimes = routes.map(runtimeOf);
    const table = compileRoutes(runtimes, (runtime) => runtime.route);
    const selections = new WeakMap<FastifyRequest, RouteRuntime>();
    const handlers = new Map(runtimes.map((runtime) => [runtime, createRouteHandler(runtime, options)]));
    const selected = (request: FastifyRequest) => selections.get(request) as RouteRuntime;
    const routeOf = (request: FastifyRequest) => selected(request).route;
    const routeOptions = {
      method: [...ALL_METHODS],
      exposeHeadRoute: false,
      // The gateway-wide CORS hook leaves these paths alone: each route applies its own policy or server.cors (cors.ts).
      config: { cors: false },
      onRequest: [
        selectRoute(table.select, selections, options.bodyLimits),
        options.authenticate,
        authorize(routeOf, config.auth.realm),
        limitRequests(
          (request) => ({ name: selected(request).name, limit: routeOf(request).limit }),
          options.limitStore,
          config.rateLimit.headers,
        ),
        charge(routeOf, config.rateLimit, options.budget),
      ],
      handler: (request: FastifyRequest, reply: FastifyReply) => (handlers.get(selected(request)) as RouteHandler)(request, reply),
    };
    const mounts = new Set(table.compiled.map(({ mount }) => mount));
    mounted.push(...mounts);
    for (const mount of mounts) {
      app.route({ ...routeOptions, url: mount });
      app.route({ ...routeOptions, url: mount === '/' ? '/*' : `${mount}/*` });
    }
  };

  const mounted: string[] = [];
  return {
    register: registerAll,
    owns: (path) => mounted.some((mount) => mount === '/' || path === mount || path.startsWith(`${mount}/`)),
    snapshot: () =>
      routes.map((route) => {
        const replicas = pools?.get(poolNameOf(route))?.pool.snapshot();
        const upstream = route.upstream ?? (route.upstreams ?? []).map(({ url }) => new URL(url).origin).join(', ');
        const name = breakers && !replicas ? breakerNameOf(route) : null;
        const state = (name && breakers?.find(name)?.snapshot()) || null;
        return replicas
          ? { prefix: routeName(route), upstream, breaker: name, state, replicas }
          : { prefix: routeName(route), upstream, breaker: name, state };
      }),
    stopChecks: () => pools?.close(),
    closeConnections: async () => {
      await probePool?.close().catch(() => undefined);
    },
  };
}

/** What crosses to and from a route's upstream: the gateway's own headers and the route's header rules, compiled once. */
function headerOptionsOf(config: RestSections, route: RestRouteConfig): RouteRuntime['headerOptions'] {
  const headerNames = gatewayHeaderNames(config);
  return {
    requestIdHeader: config.server.requestIdHeader.toLowerCase(),
    apiKeyHeader: config.auth.apiKeys.header.toLowerCase(),
    propagation: config.auth.propagation,
    forwardAuthorization: route.auth.forwardAuthorization,
    rules: route.headerRules && {
      request: compileHeaderRules(route.headerRules.request, restRequestGuard(headerNames)),
      response: compileHeaderRules(route.headerRules.response, responseGuard(headerNames)),
    },
  };
}
