/**
 * The gateway configuration, as callers see it: the root schema composed from the features'
 * schemas (schema.ts) and its loading from YAML and the environment (load.ts).
 */
export { ConfigError } from '../config-kit.js';
export { JWT_ALGORITHMS, type AuthConfig, type IssuerConfig } from '../auth/config.js';
export { productionSettings, type GraphqlConfig, type ProductionSettings } from '../graphql/config.js';
export type { RateLimitConfig, TierConfig } from '../rate-limit/config.js';
export { ENV_OVERRIDES, loadConfig, type LoadConfigOptions } from './load.js';
export {
  ConfigSchema,
  configuredSubgraphUrl,
  routeLoadBalancing,
  routeReplicas,
  subgraphReplicas,
  subgraphSettings,
  type GatewayConfig,
  type GatewayConfigInput,
  type RestMethod,
  type RestRouteConfig,
  type SubgraphSettings,
} from './schema.js';
