import replyFrom from '@fastify/reply-from';
import type { FastifyPluginAsync, onRequestAsyncHookHandler } from 'fastify';
import type { Logger } from 'pino';
import type { CacheStore } from '../cache/store.js';
import type { RestSections } from './config.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import type { BudgetService } from '../rate-limit/budget-service.js';
import type { BudgetStore } from '../rate-limit/budget.js';
import type { BreakerRegistry } from '../upstream/breaker.js';
import { BodyLimits } from './body-limit.js';
import { createRouteTable, type RouteSnapshot } from './routes.js';
import { RouteDispatcher } from './timeouts.js';
import { createWebSocketRelay } from './websocket.js';
import type { UpgradeRouter } from '../http/upgrades.js';

export interface RestPassthroughOptions {
  config: RestSections;
  /** The gateway's authentication hook (sets the principal or refuses with 401/503). */
  authenticate: onRequestAsyncHookHandler;
  /** The client budget shared with GraphQL; undefined: REST requests are not charged. */
  budget?: BudgetService | undefined;
  /** Where routes' own request limits are counted; undefined: no route has a limit. */
  limitStore?: BudgetStore | undefined;
  /** The breaker registry shared with the subgraphs; undefined (resilience off): no breakers. */
  breakers?: BreakerRegistry | undefined;
  /** The fallback cache shared with the subgraphs; undefined: no GET fallback. */
  cache?: CacheStore | undefined;
  /** Where routes with `websocket` take their upgrade requests. */
  upgrades: UpgradeRouter;
  metrics: GatewayMetrics;
  logger: Logger;
}

export interface RestPassthrough {
  /** The encapsulated Fastify plugin with every route; register it once. */
  plugin: FastifyPluginAsync;
  /** Each route, its upstream (replicas: their origins, comma-separated, and each one's state) and its breaker state, for `/ready`. */
  snapshot(): RouteSnapshot[];
  /** Stops the replicas' health checks (the gateway closes). */
  close(): void;
  /** Builds the routes of a new config; `commit` makes them serve (see {@link RouteTable.prepare}). */
  prepare(config: RestSections): { commit(): void; abort(): void };
}

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
 *
 * Where each step lives: route-checks.ts (checks, route auth, charge), handler.ts (retries and the
 * answer), proxy.ts (one proxied attempt, streaming), fallback.ts (kept copies), error-answers.ts.
 */
export function createRestPassthrough(options: RestPassthroughOptions): RestPassthrough {
  const bodyLimits = new BodyLimits();
  const webSockets = options.config.rest.routes.some((route) => route.websocket) ? createWebSocketRelay(options.metrics) : undefined;
  const table = createRouteTable({ ...options, bodyLimits, webSockets });

  const plugin: FastifyPluginAsync = async (app) => {
    bodyLimits.install(app);
    // Its own pool; TLS certificates are verified (reply-from's own agents would not verify them).
    // Each request takes its route's connect, first-byte and whole-response deadlines (timeouts.ts).
    const agent = new RouteDispatcher({ keepAliveTimeout: 10_000, connections: 128 });
    await app.register(replyFrom, { undici: agent, disableRequestLogging: true, disableCache: true, retryMethods: [] });
    app.addHook('onClose', async () => {
      await agent.close().catch(() => undefined);
      await table.closeConnections();
    });
    webSockets?.install(app, (path) => table.owns(path), options.upgrades);
    table.register(app);
  };

  return { plugin, snapshot: () => table.snapshot(), close: () => table.stopChecks(), prepare: (config) => table.prepare(config) };
}
