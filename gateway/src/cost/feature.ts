import type { Logger } from 'pino';
import type { RateLimitConfig } from '../rate-limit/config.js';
import type { CostConfig as CostSection } from './config.js';
import type { Feature, RequestDescription } from '../feature.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import { AdaptiveRefill } from '../rate-limit/adaptive.js';
import { BudgetService, createBudgetStore } from '../rate-limit/budget-service.js';
import type { RedisClient } from '../redis/client.js';
import { requestState } from '../context.js';
import { CostModelSource } from './model-source.js';
import { useCostAndBudget, type TierPolicy } from './plugin.js';

declare module '../feature.js' {
  interface FeatureServices {
    /** The cost model of the served schema; undefined when cost analysis is off. */
    costs: CostModelSource | undefined;
    /** The per-client budget of cost points (also for REST routes); undefined when rate limiting is off. */
    budget: BudgetService | undefined;
  }
}

declare module '../context.js' {
  interface RequestState {
    /** Cost in points: set when the operation was estimated, `actual` once it ran. */
    cost?: { estimated: number; actual?: number | undefined } | undefined;
  }
}

type CostConfig = { cost: CostSection; rateLimit: RateLimitConfig };

/**
 * Cost analysis and budgets: the cost model source (the overrides file is read now, so an invalid
 * one stops start-up), the budget on the configured store when rate limiting is on (with adaptive
 * refill when `rateLimit.adaptive.enabled`, watching the subgraphs' breakers and latencies), and
 * the Apollo plugin that estimates, limits, charges and refunds each operation.
 */
export const costFeature: Feature<CostConfig, { logger: Logger; metrics: GatewayMetrics; redis: RedisClient | undefined }> = {
  name: 'cost',
  // Costs the operation that authorization filtered; adapts to the subgraphs' health.
  after: ['auth', 'subgraphs'],
  reloads: ['rateLimit.tiers', 'rateLimit.defaultTier'],
  setup({ config, shared, services }) {
    const { logger, metrics } = shared;
    if (!config.cost.enabled) {
      if (config.rateLimit.enabled) logger.warn('cost.enabled is false: operations are not costed, so no budget is charged');
      return { provides: { costs: undefined, budget: undefined } };
    }
    const costs = new CostModelSource({
      overridesPath: config.cost.overridesPath,
      watch: config.cost.watch,
      pollIntervalMs: config.cost.pollIntervalMs,
      cacheSize: config.cost.cacheSize,
      logger: logger.child({ component: 'cost' }),
    });
    const budget = config.rateLimit.enabled ? createBudget(config, shared) : undefined;
    let adaptive: AdaptiveRefill | undefined;
    if (budget && config.rateLimit.adaptive.enabled) {
      const signals = services.get('subgraphSignals');
      if (!signals) logger.warn('rateLimit.adaptive is on but resilience is off: no breaker or latency to adapt to');
      adaptive = new AdaptiveRefill(config.rateLimit.adaptive, signals ?? { breakerState: () => undefined, latencyP95: () => undefined });
      const refill = adaptive;
      metrics.reportRefillFactors(() => refill.factors());
    }
    let tierPolicy: TierPolicy = { tiers: config.rateLimit.tiers, defaultTier: config.rateLimit.defaultTier };
    const plugin = useCostAndBudget({
      costs,
      defaultListSize: config.cost.defaultListSize,
      explainHeader: config.cost.explain.enabled ? config.cost.explain.header : undefined,
      tierPolicy: () => tierPolicy,
      budget,
      adaptive,
      extensions: config.rateLimit.extensions,
      metrics,
    });
    return {
      provides: { costs, budget },
      apolloPlugins: [plugin],
      describe: (request) => describeCost(requestState(request)),
      // Refunds the budget still holds reach Redis before it is let go (features close first).
      close: () => budget?.close(),
      // The schema validated the new tiers (and the limits of their overrides) already: nothing can fail here.
      prepareReload({ next }) {
        const { tiers, defaultTier } = next.rateLimit;
        return { commit: () => void (tierPolicy = { tiers, defaultTier }) };
      },
    };
  },
};

function createBudget(config: CostConfig, shared: { logger: Logger; metrics: GatewayMetrics; redis: RedisClient | undefined }) {
  const logger = shared.logger.child({ component: 'rate-limit' });
  const { store, kind } = createBudgetStore(config.rateLimit, shared.redis, logger, shared.metrics);
  logger.info({ store: kind, onStoreFailure: kind === 'redis' ? config.rateLimit.onStoreFailure : undefined }, 'rate limiting on');
  return new BudgetService({ store, headers: config.rateLimit.headers, metrics: shared.metrics });
}

function describeCost(state: ReturnType<typeof requestState>): RequestDescription | undefined {
  if (!state.cost && !state.rateLimit) return undefined;
  const span: NonNullable<RequestDescription['span']> = {};
  if (state.cost) span['gateway.cost.estimated'] = state.cost.estimated;
  if (state.cost?.actual !== undefined) span['gateway.cost.actual'] = state.cost.actual;
  if (state.rateLimit) span['gateway.rate_limit.result'] = state.rateLimit.result;
  if (state.rateLimit?.remaining !== undefined) span['gateway.rate_limit.remaining'] = state.rateLimit.remaining;
  return { span };
}
