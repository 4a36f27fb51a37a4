/**
 * The gateway configuration, as callers see it: the root schema composed from the features'
 * schemas (schema.ts) and its loading from YAML and the environment (load.ts).
 */
export { ConfigError } from '../config-kit.js';
export { ENV_OVERRIDES, loadConfig, type LoadConfigOptions } from './load.js';
export {
  ConfigSchema,
  JWT_ALGORITHMS,
  configuredSubgraphUrl,
  productionSettings,
  routeLoadBalancing,
  routeReplicas,
  subgraphReplicas,
  subgraphSettings,
  type GatewayConfig,
  type GatewayConfigInput,
  type IssuerConfig,
  type ProductionSettings,
  type RestMethod,
  type RestRouteConfig,
  type SubgraphSettings,
  type TierConfig,
} from './schema.js';
