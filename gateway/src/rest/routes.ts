import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import type { Logger } from 'pino';
import type { CacheStore } from '../cache/store.js';
import { gatewayHeaderNames, responseGuard, restRequestGuard } from '../headers/guards.js';
import { compileHeaderRules } from '../headers/rules.js';
import { subgraphSettings } from '../subgraph/config.js';
import { routeLoadBalancing, routeName, routeReplicas, type RestRouteConfig, type RestSections } from './config.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import type { BudgetService } from '../rate-limit/budget-service.js';
import type { BreakerRegistry, BreakerSettings, BreakerSnapshot } from '../upstream/breaker.js';
import { createBulkhead, type Bulkhead } from '../upstream/bulkhead.js';
import { createUpstreamFetch, type UpstreamPool } from '../upstream/pool.js';
import type { ReplicaSnapshot } from '../upstream/replica-pool.js';
import { ReplicaPools } from '../upstream/replica-pools.js';
import type { UpstreamRoute } from '../upstream/route.js';
import type { BodyLimits } from './body-limit.js';
import { RestFallbackCache } from './fallback-cache.js';
import { createRouteHandler, type RouteRuntime } from './handler.js';

type RouteHandler = ReturnType<typeof createRouteHandler>;
import { compileRoutes, type MatchInput, type Selection } from './match.js';
import { isCatchAll, requestState } from '../context.js';
import { authorize, charge, selectRoute } from './route-checks.js';
import { limitRequests } from './route-limit.js';
import { compileTransforms } from './transforms.js';
import { compileSplit } from './split.js';
import { routeTimeouts } from './timeouts.js';
import { compileCors } from './cors.js';
import { webSocketLimits, type WebSocketRelay } from './websocket.js';
import type { BudgetStore } from '../rate-limit/budget.js';
import type { RateLimitConfig } from '../rate-limit/config.js';

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
  /** Where routes' own request limits are counted (the budget's store, or one of their own). */
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
  /** Registers the passthrough's catch-all routes on its plugin; every request is matched against the routes serving now. */
  register(app: FastifyInstance): void;
  /** Builds the routes of a new config (throws when one cannot be built); `commit` makes them serve, `abort` drops them. */
  prepare(config: RestSections): { commit(): void; abort(): void };
  /** Each route, its upstream (replicas: their origins, comma-separated, and each one's state) and its breaker state, for `/ready`. */
  snapshot(): RouteSnapshot[];
  /** Stops the replicas' health checks. */
  stopChecks(): void;
  /** Closes the health checks' connection pool. */
  closeConnections(): Promise<void>;
  /** Whether a path is under one of the routes' mounts (known once registered). */
  owns(path: string): boolean;
}

/** One config's routes, built together: a reload builds a new set and swaps it in whole. */
interface RouteSet {
  routes: readonly RestRouteConfig[];
  select(method: string, input: MatchInput): Selection<RouteRuntime>;
  /** Where each route is mounted (its path up to the first parameter). */
  mounts: Map<RouteRuntime, string>;
  /** The tiers REST charges are priced with. */
  rateLimit: Pick<RateLimitConfig, 'tiers' | 'defaultTier'>;
  pools: ReplicaPools | undefined;
  /** Gives the breakers these routes use (created before, with older settings) the settings of this config. */
  retune(): void;
  snapshot(): RouteSnapshot[];
}

/**
 * The configured routes and how each reaches its upstream. A route's breaker is `route.breaker`
 * (a subgraph's name shares that subgraph's breaker) or `rest:<prefix>`. Routes with two or more
 * `upstreams` get a replica pool, through the same balancer as replicated subgraphs: each replica
 * has its own breaker (`<route breaker>@<origin>`) and the route's own breaker is not used. Active
 * checks run only when the route names a `healthCheck.path`: a REST service has no probe that fits
 * every service, as `{__typename}` fits every GraphQL one.
 *
 * A config reload builds a new set of routes beside the one serving ({@link RouteTable.prepare})
 * and swaps it in: a request keeps the route it was matched to, breakers are kept by name (an
 * open breaker stays open), and the replaced replica pools stop their health checks.
 */
export function createRouteTable(options: RouteTableOptions): RouteTable {
  let probePool: UpstreamPool | undefined;
  const probe = () => (probePool ??= createUpstreamFetch({ connectionsPerOrigin: 4 })).fetch;
  const handlers = new WeakMap<RouteRuntime, RouteHandler>();
  const kept: KeptAcrossReloads = { probe, handlers, bulkheads: new Map() };
  let current = buildRouteSet(options.config, options, kept);
  const selections = new WeakMap<FastifyRequest, RouteRuntime>();
  const rateLimits = new WeakMap<FastifyRequest, RouteSet['rateLimit']>();

  const registerAll = (app: FastifyInstance) => {
    const { config } = options;
    const corsOn = config.server.cors.origins.length > 0;
    const selected = (request: FastifyRequest) => selections.get(request) as RouteRuntime;
    const routeOf = (request: FastifyRequest) => selected(request).route;
    const select = (method: string, input: MatchInput, request: FastifyRequest) => {
      const set = current;
      rateLimits.set(request, set.rateLimit);
      const selection = set.select(method, input);
      if (selection && 'route' in selection) nameSpan(request, set.mounts.get(selection.route), input.rawPath);
      return selection;
    };
    const routeOptions = {
      exposeHeadRoute: false,
      // The gateway-wide CORS hook leaves these paths alone: each route applies its own policy or server.cors (cors.ts).
      config: { cors: false },
      onRequest: [
        selectRoute(select, selections, options.bodyLimits, (request) => corsOn && isCatchAll(request)),
        options.authenticate,
        authorize(routeOf, config.auth.realm),
        limitRequests(
          (request) => ({ name: selected(request).name, limit: routeOf(request).limit }),
          options.limitStore,
          config.rateLimit.headers,
        ),
        charge(routeOf, (request) => rateLimits.get(request) ?? current.rateLimit, options.budget),
      ],
      handler: (request: FastifyRequest, reply: FastifyReply) => (handlers.get(selected(request)) as RouteHandler)(request, reply),
    };
    const mounts = new Set(current.mounts.values());
    // The mounts of the routes at start-up, as Fastify routes of their own (all methods, their own CORS).
    for (const mount of mounts) {
      app.route({ ...routeOptions, method: [...ALL_METHODS], url: mount });
      app.route({ ...routeOptions, method: [...ALL_METHODS], url: mount === '/' ? '/*' : `${mount}/*` });
    }
    // Every other path, so a route added by a reload serves without a restart; a path no route matches
    // gets the gateway's not-found answer. Here the gateway-wide CORS hook runs first (it cannot know
    // the route yet), and with CORS on, its preflight route owns OPTIONS on these paths.
    if (mounts.has('/')) return;
    const catchAll = {
      ...routeOptions,
      config: { catchAll: true },
      method: corsOn ? ALL_METHODS.filter((m) => m !== 'OPTIONS') : [...ALL_METHODS],
    };
    app.route({ ...catchAll, url: '/' });
    app.route({ ...catchAll, url: '/*' });
  };

  return {
    register: registerAll,
    prepare(config) {
      const next = buildRouteSet(config, options, kept);
      return {
        commit: () => {
          const previous = current;
          current = next;
          next.retune();
          previous.pools?.close();
        },
        abort: () => next.pools?.close(),
      };
    },
    snapshot: () => current.snapshot(),
    stopChecks: () => current.pools?.close(),
    owns: (path) => [...current.mounts.values()].some((mount) => mount === '/' || path === mount || path.startsWith(`${mount}/`)),
    closeConnections: async () => {
      await probePool?.close().catch(() => undefined);
    },
  };
}

/** What the route sets of successive configs share. */
interface KeptAcrossReloads {
  probe: () => UpstreamPool['fetch'];
  handlers: WeakMap<RouteRuntime, RouteHandler>;
  /** By route name: a route that keeps its `maxConcurrent` keeps its bulkhead, so calls under way still count. */
  bulkheads: Map<string, { maxConcurrent: number; bulkhead: Bulkhead }>;
}

function buildRouteSet(config: RestSections, options: RouteTableOptions, kept: KeptAcrossReloads): RouteSet {
  const { probe, handlers } = kept;
  const { breakers, metrics, logger } = options;
  const routes = config.rest.routes;
  const breakerNameOf = (route: RestRouteConfig) => route.breaker ?? `rest:${routeName(route)}`;
  // A subgraph's name takes that subgraph's breaker settings (used if the breaker is created here first).
  const breakerSettingsOf = (name: string) =>
    config.subgraphs[name] ? subgraphSettings(config, name).breaker : config.resilience.subgraphDefaults.breaker;
  const poolNameOf = (route: RestRouteConfig) => `rest:${routeName(route)}`;

  const pools = breakers && new ReplicaPools({ breakers, metrics, logger });
  const retunes: (() => void)[] = [];
  /** The settings of `name`'s breaker, for the breaker called `breaker` (retuned to them on commit). */
  const settingsOf = (name: string, breaker = name) => {
    const settings = breakerSettingsOf(name);
    retunes.push(() => breakers?.find(breaker)?.reconfigure(settings));
    return settings;
  };
  try {
    for (const route of routes) {
      const upstreams = routeReplicas(route);
      if (!upstreams || !pools) continue;
      const balancing = routeLoadBalancing(config, route);
      const name = breakerNameOf(route);
      const created = pools.create({
        name: poolNameOf(route),
        breakerOwner: name,
        breakerSettings: breakerSettingsOf(name),
        upstreams: upstreams.map(({ url, weight }) => ({ url: new URL(url).origin, weight })),
        balancing,
        probe: balancing.healthCheck.path ? probe : undefined,
      });
      const settings = breakerSettingsOf(name);
      retunes.push(() => created.pool.replicas.forEach((replica) => replica.breaker.reconfigure(settings)));
    }
    const runtimes = routes.map((route) => runtimeOf(config, route, options, pools, breakerNameOf, settingsOf, kept.bulkheads));
    for (const runtime of runtimes)
      kept.bulkheads.set(runtime.name, { maxConcurrent: runtime.route.maxConcurrent, bulkhead: runtime.bulkhead });
    for (const runtime of runtimes) handlers.set(runtime, createRouteHandler(runtime, options));
    const table = compileRoutes(runtimes, (runtime) => runtime.route);
    return {
      routes,
      select: table.select,
      mounts: new Map(table.compiled.map(({ route, mount }) => [route, mount])),
      rateLimit: { tiers: config.rateLimit.tiers, defaultTier: config.rateLimit.defaultTier },
      pools,
      retune: () => retunes.forEach((retune) => retune()),
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
    };
  } catch (error) {
    pools?.close();
    throw error;
  }
}

/** One route as its handler serves it: its breaker or replica pool, bulkhead, kept copies, header rules, transforms and split. */
function runtimeOf(
  config: RestSections,
  route: RestRouteConfig,
  options: RouteTableOptions,
  pools: ReplicaPools | undefined,
  breakerNameOf: (route: RestRouteConfig) => string,
  breakerSettingsOf: (name: string, breaker?: string) => BreakerSettings,
  bulkheads?: KeptAcrossReloads['bulkheads'],
): RouteRuntime {
  const { breakers } = options;
  const name = routeName(route);
  const keptBulkhead = bulkheads?.get(name);
  /** The route's breaker or replica pool; its breaker is created here (or found, when it exists). */
  const upstreamOf = (): UpstreamRoute | undefined => {
    const replicas = pools?.get(`rest:${name}`);
    if (replicas) return { replicas };
    const breakerName = breakerNameOf(route);
    const breaker = breakers?.get(breakerName, breakerSettingsOf(breakerName));
    return breaker && { breaker };
  };
  return {
    route,
    name,
    upstream: upstreamOf(),
    bulkhead:
      keptBulkhead?.maxConcurrent === route.maxConcurrent
        ? keptBulkhead.bulkhead
        : createBulkhead({ name: `rest:${name}`, maxConcurrent: route.maxConcurrent }),
    fallback:
      route.fallback.cache && options.cache
        ? {
            cache: new RestFallbackCache(options.cache, name, {
              ttlMs: route.fallback.ttlMs,
              maxBodyBytes: route.fallback.maxBodyBytes,
              refreshAfterMs: route.fallback.refreshAfterMs,
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
        const breaker = breakers?.get(`rest:${name}~split`, breakerSettingsOf(breakerNameOf(route), `rest:${name}~split`));
        return breaker && { breaker };
      })(),
      goes: compileSplit(route.split),
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

/** The request span named as Fastify would name a route of its own: the mount, or everything below it. */
function nameSpan(request: FastifyRequest, mount: string | undefined, rawPath: string): void {
  const span = requestState(request).trace?.span;
  if (!span || mount === undefined) return;
  const route = rawPath === mount ? mount : mount === '/' ? '/*' : `${mount}/*`;
  span.updateName(`${request.method} ${route}`);
  span.setAttribute('http.route', route);
}
