import type { RedisClient } from './redis/client.js';
import type { Logger } from 'pino';
import type { GatewayConfig } from './config/index.js';
import { CostModelSource } from './cost/model-source.js';
import type { CostAndBudgetOptions } from './graphql/cost-plugin.js';
import type { GatewayMetrics } from './observability/metrics.js';
import { AdaptiveRefill, type DegradationSignals } from './rate-limit/adaptive.js';
import { BudgetService, createBudgetStore } from './rate-limit/budget-service.js';

/**
 * The options of the cost plugin from the config: the cost model source (the overrides file is
 * read now, so an invalid one stops start-up) and, when rate limiting is on, the budget service on
 * the configured store, with adaptive refill when `rateLimit.adaptive.enabled` (it watches
 * `signals`). Undefined when cost analysis is off.
 */
export function createCostAndBudget(
  config: GatewayConfig,
  redis: RedisClient | undefined,
  logger: Logger,
  metrics: GatewayMetrics,
  signals?: DegradationSignals,
): CostAndBudgetOptions | undefined {
  if (!config.cost.enabled) {
    if (config.rateLimit.enabled) logger.warn('cost.enabled is false: operations are not costed, so no budget is charged');
    return undefined;
  }
  const costs = new CostModelSource({
    overridesPath: config.cost.overridesPath,
    watch: config.cost.watch,
    pollIntervalMs: config.cost.pollIntervalMs,
    cacheSize: config.cost.cacheSize,
    logger: logger.child({ component: 'cost' }),
  });
  let budget: BudgetService | undefined;
  if (config.rateLimit.enabled) {
    const rateLimitLogger = logger.child({ component: 'rate-limit' });
    const { store, kind } = createBudgetStore(config.rateLimit, redis, rateLimitLogger, metrics);
    rateLimitLogger.info({ store: kind, onStoreFailure: kind === 'redis' ? config.rateLimit.onStoreFailure : undefined }, 'rate limiting on');
    budget = new BudgetService({ store, headers: config.rateLimit.headers, metrics });
  }
  let adaptive: AdaptiveRefill | undefined;
  if (budget && config.rateLimit.adaptive.enabled) {
    if (!signals) logger.warn('rateLimit.adaptive is on but resilience is off: no breaker or latency to adapt to');
    adaptive = new AdaptiveRefill(config.rateLimit.adaptive, signals ?? { breakerState: () => undefined, latencyP95: () => undefined });
    const refill = adaptive;
    metrics.reportRefillFactors(() => refill.factors());
  }
  return {
    costs,
    defaultListSize: config.cost.defaultListSize,
    explainHeader: config.cost.explain.enabled ? config.cost.explain.header : undefined,
    tiers: config.rateLimit.tiers,
    defaultTier: config.rateLimit.defaultTier,
    budget,
    adaptive,
    extensions: config.rateLimit.extensions,
    metrics,
  };
}
