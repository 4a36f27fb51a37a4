import type { Logger } from 'pino';
import type { RestSections } from './config.js';
import { requestState } from '../context.js';
import type { Feature } from '../feature.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import { createRestPassthrough } from './passthrough.js';
import { createBudgetStore } from '../rate-limit/budget-service.js';
import type { RedisClient } from '../redis/client.js';

/**
 * Legacy REST routes: an encapsulated Fastify plugin with its own (non-parsing) content-type
 * handling, behind the same auth hook, budget, breakers and fallback cache as GraphQL. A config
 * reload swaps the whole set of routes (matching, limits, transforms, splits, header rules) at once.
 */
export const restFeature: Feature<RestSections, { logger: Logger; metrics: GatewayMetrics; redis: RedisClient | undefined }> = {
  name: 'rest',
  after: ['edge', 'auth', 'subgraphs', 'cost'],
  // server.cors: the policy of routes without their own `cors`. The breaker settings: a route's breaker
  // (and its replicas' and splits') takes the subgraph defaults', or the subgraph's it is named after.
  reloads: [
    'rest',
    'rateLimit.tiers',
    'rateLimit.defaultTier',
    'server.cors',
    'resilience.subgraphDefaults.breaker',
    'subgraphs.*.breaker',
  ],
  setup({ config, shared, services }) {
    const { metrics } = shared;
    const resilience = services.get('subgraphResilience');
    const budget = services.get('budget');
    // Routes' own limits are counted in the budget's store; with rate limiting off, in one of their own
    // (made even without a limit today: a reload may add one).
    const limitStore =
      budget?.store ?? createBudgetStore(config.rateLimit, shared.redis, shared.logger.child({ component: 'rest' }), metrics).store;
    const rest = createRestPassthrough({
      config,
      authenticate: services.get('authenticator').hook(),
      budget,
      limitStore,
      breakers: resilience?.breakers,
      cache: resilience?.cache,
      upgrades: services.get('upgrades'),
      metrics,
      logger: shared.logger.child({ component: 'rest' }),
    });
    return {
      register(app) {
        app.register(rest.plugin);
        app.addHook('onResponse', async (request, reply) => {
          const info = requestState(request).rest;
          if (info) metrics.observeRest(info.route, request.method, reply.statusCode, reply.elapsedTime / 1000);
        });
      },
      readiness: () => ({ rest: rest.snapshot() }),
      describe(request) {
        const info = requestState(request).rest;
        if (!info) return undefined;
        const span: Record<string, string | number | string[]> = {
          'gateway.rest.route': info.route,
          'gateway.rest.attempts': info.attempts,
        };
        if (info.upstreamStatus !== undefined) span['gateway.rest.upstream_status'] = info.upstreamStatus;
        if (info.fallback) span['gateway.fallback.sources'] = [info.fallback];
        const { route, upstreamStatus, attempts, fallback, failure, transform, split } = info;
        if (split) span['gateway.rest.split'] = 1;
        return { log: { route, upstreamStatus, attempts, fallback, failure, transform, split }, span };
      },
      close: () => rest.close(),
      prepareReload: ({ next }) => rest.prepare(next),
    };
  },
};
