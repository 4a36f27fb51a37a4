import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { DestinationStream, Logger } from 'pino';
import type { GatewayConfig } from './config/index.js';
import type { GatewayPhase } from './feature.js';
import { createLogger } from './observability/logging.js';
import { GatewayMetrics } from './observability/metrics.js';
import { createRedis, redisConfigured, type RedisClient } from './redis/client.js';
import type { ConfigSource } from './reload/feature.js';
import { SupergraphState } from './supergraph/state.js';

/** The services every feature may use, built once by the composition root before any feature. */
export interface GatewayShared {
  logger: Logger;
  metrics: GatewayMetrics;
  /** The gateway's Redis connection; undefined when none is configured (in-memory stores). */
  redis: RedisClient | undefined;
  /** Identifies this process in logs, `/ready`, shared-breaker messages and its Redis connection name. */
  instanceId: string;
  /** Where the gateway is in its life: starting, ready, draining, stopped. */
  phase: () => GatewayPhase;
  /** The supergraph served now and the subgraphs it declares. */
  supergraph: SupergraphState;
  /** Where the config was read from, to read it again on a reload; undefined: the config cannot be reloaded. */
  configSource: ConfigSource | undefined;
}

export function createShared(
  config: GatewayConfig,
  logDestination: DestinationStream | undefined,
  phase: () => GatewayPhase,
  configSource?: ConfigSource,
): GatewayShared {
  const logger = createLogger({ level: config.logging.level, destination: logDestination });
  const metrics = new GatewayMetrics({
    maxOperationLabels: config.metrics.maxOperationLabels,
    maxClientLabels: config.metrics.maxClientLabels,
    defaultMetrics: config.metrics.defaultMetrics,
  });
  const instanceId = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const redis = redisConfigured(config.redis)
    ? createRedis(
        { ...config.redis, clusterNodes: config.redis.cluster?.nodes, connectionName: `gateway:${instanceId}` },
        logger.child({ component: 'redis' }),
      )
    : undefined;
  if (!redis) logger.info('no Redis configured: shared state stays in this process (in-memory store)');
  return { logger, metrics, redis, instanceId, phase, supergraph: new SupergraphState(), configSource };
}
