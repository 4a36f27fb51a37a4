/**
 * The gateway configuration, as callers see it: the root schema composed from the features'
 * schemas (schema.ts) and its loading from YAML and the environment (load.ts). The sections' own
 * types and helpers are re-exported from the features that declare them.
 */
export { ConfigError } from '../config-kit.js';
export { ENV_OVERRIDES, loadConfig, type LoadConfigOptions } from './load.js';
export { ConfigSchema, type GatewayConfig, type GatewayConfigInput } from './schema.js';
export { JWT_ALGORITHMS, type AuthConfig, type IssuerConfig } from '../auth/config.js';
export type { CostConfig } from '../cost/config.js';
export { productionSettings, type GraphqlConfig, type ProductionSettings } from '../graphql/config.js';
export type { ServerConfig } from '../http/config.js';
export type { LoggingConfig, MetricsConfig, TracingConfig } from '../observability/config.js';
export type { ApqConfig, TrustedDocumentsConfig } from '../persisted/config.js';
export type { RateLimitConfig, TierConfig } from '../rate-limit/config.js';
export type { RedisConfig } from '../redis/config.js';
export { routeLoadBalancing, routeReplicas, type RestConfig, type RestMethod, type RestRouteConfig } from '../rest/config.js';
export {
  configuredSubgraphUrl,
  subgraphReplicas,
  subgraphSettings,
  type ResilienceConfig,
  type SubgraphSettings,
  type SubgraphsConfig,
} from '../subgraph/config.js';
export type { SupergraphConfig } from '../supergraph/config.js';
export type { LoadBalancingSettings } from '../upstream/config.js';
