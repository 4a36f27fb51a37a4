import './hot-reexports.js';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { DestinationStream, Logger } from 'pino';
import type { GatewayConfig } from './config/index.js';
import { setupFeatures, type GatewayPhase } from './feature.js';
import { FEATURES } from './features.js';
import { createApolloServer } from './graphql/apollo-server.js';
import { createHttpApp } from './http/app.js';
import type { GatewayMetrics } from './observability/metrics.js';
import type { BudgetService } from './rate-limit/budget-service.js';
import { closeRedis } from './redis/client.js';
import type { ConfigSource } from './reload/feature.js';
import type { ReloadOutcome, ReloadTrigger } from './reload/reloader.js';
import { createShared } from './shared.js';

export type { GatewayPhase } from './feature.js';

export interface GatewayOptions {
  /** Log destination; stdout when absent. */
  logDestination?: DestinationStream;
  /** Where the config was read from, so a reload (SIGHUP, the admin API, a watched file) reads it again; none: no reload. */
  configSource?: ConfigSource;
}

export interface Gateway {
  readonly app: FastifyInstance;
  /** The config serving now (the last one a reload applied). */
  readonly config: GatewayConfig;
  readonly logger: Logger;
  readonly metrics: GatewayMetrics;
  /** The per-client budget of cost points (also for non-GraphQL routes); undefined when rate limiting is off. */
  readonly budget: BudgetService | undefined;
  readonly phase: GatewayPhase;
  /** Base URL once listening, e.g. `http://127.0.0.1:4000`. */
  readonly url: string;
  /** Identifies this process in logs, `/ready` and its Redis connection name. */
  readonly instanceId: string;
  /** Listens, then loads the supergraph; resolves when ready, rejects (after closing) if it cannot load. */
  start(): Promise<void>;
  /** Starts listening: `/health` answers, `/ready` says not ready and GraphQL answers 503 until `load()`. */
  listen(): Promise<void>;
  /** Loads the supergraph and starts serving GraphQL; rejects (after closing) if it cannot load. */
  load(): Promise<void>;
  /** Stops accepting, waits for in-flight requests, closes subgraph connections and Redis. */
  close(): Promise<void>;
  /** Reads the config again and applies it all or not at all (see reload/reloader.ts); never throws. */
  reloadConfig(trigger?: ReloadTrigger): Promise<ReloadOutcome>;
}

/**
 * The composition root: the shared services, then the features of features.ts in their order, then
 * Apollo Server with every feature's plugins. Throws a `ConfigError` when a file the config names
 * (a static fallback, the trusted-documents manifest) is missing or invalid.
 */
export function createGateway(config: GatewayConfig, options: GatewayOptions = {}): Gateway {
  let phase: GatewayPhase = 'starting';
  let url = '';
  const shared = createShared(config, options.logDestination, () => phase, options.configSource);
  const { logger, redis } = shared;
  let features: ReturnType<typeof setupFeatures<GatewayConfig, typeof shared>>;
  try {
    features = setupFeatures(FEATURES, config, shared);
  } catch (error) {
    redis?.disconnect();
    throw error;
  }
  const apollo = createApolloServer({
    config,
    logger,
    metrics: shared.metrics,
    supergraph: shared.supergraph,
    buildService: features.services.get('buildSubgraphService'),
    plugins: features.apolloPlugins,
  });
  const app = createHttpApp(config, shared, features.services.get('httpEdge'));
  for (const contribution of features.contributions) contribution.register?.(app);
  app.addHook('onClose', async () => {
    // Runs after the HTTP server has stopped and in-flight requests have finished.
    await apollo.stop().catch((error: Error) => logger.warn({ err: error.message }, 'apollo stop failed'));
    // In the reverse of the list's order: observability, first in the list, exports the last spans last.
    await features.close((feature, error) =>
      logger.warn({ feature, err: error instanceof Error ? error.message : String(error) }, 'feature close failed'),
    );
    if (redis) await closeRedis(redis);
  });

  const reloader = features.services.get('configReload');
  const gateway: Gateway = {
    app,
    get config() {
      return reloader.config as GatewayConfig;
    },
    logger,
    metrics: shared.metrics,
    budget: features.services.get('budget'),
    get phase() {
      return phase;
    },
    get url() {
      return url;
    },
    instanceId: shared.instanceId,
    async start() {
      await gateway.listen();
      await gateway.load();
    },
    async listen() {
      for (const contribution of features.contributions) await contribution.beforeListen?.();
      await app.listen({ host: config.server.host, port: config.server.port });
      const address = app.server.address() as AddressInfo;
      const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      url = `http://${host}:${address.port}`;
    },
    async load() {
      try {
        await apollo.start();
      } catch (error) {
        logger.error({ err: error instanceof Error ? error.message : String(error) }, 'supergraph failed to load');
        phase = 'stopped';
        await app.close();
        throw error;
      }
      for (const contribution of features.contributions) contribution.afterLoad?.(apollo);
      phase = 'ready';
      logger.info(
        { url, graphql: `${url}${config.graphql.path}`, supergraph: config.supergraph.path, config: reloader.served.version },
        'gateway ready',
      );
    },
    async close() {
      if (phase === 'stopped') return;
      phase = 'draining';
      // New connections are refused from now on: Fastify closes the listener only after every preClose
      // hook (ending subscriptions waits for their events in flight), and would accept until then.
      // Its own close of the server later still waits for the open connections to finish.
      if (app.server.listening) app.server.close();
      const sweep = setInterval(() => app.server.closeIdleConnections(), 250);
      try {
        await app.close();
      } finally {
        clearInterval(sweep);
      }
      phase = 'stopped';
    },
    reloadConfig: (trigger = 'api') => reloader.reload(trigger),
  };
  return gateway;
}
