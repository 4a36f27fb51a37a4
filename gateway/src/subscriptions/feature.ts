import type { FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { AuthConfig } from '../auth/config.js';
import { principalHeaders } from '../auth/principal.js';
import type { ApolloServer } from '@apollo/server';
import type { GatewayContext } from '../context.js';
import { GatewayError } from '../errors.js';
import type { Feature, GatewayPhase } from '../feature.js';
import type { GraphqlConfig } from '../graphql/config.js';
import type { ServerConfig } from '../http/config.js';
import { checkGraphqlRequest } from '../http/graphql-request.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import type { SupergraphState } from '../supergraph/state.js';
import type { SubscriptionsConfig } from './config.js';
import { serveHttpStream, streamProtocol } from './http-streams.js';
import { useSubscriptions } from './plugin.js';
import { runOperation, type RunOutcome } from './run.js';
import { SubscriptionService } from './service.js';
import { serveWebSocket } from './websocket.js';

type SubscriptionsFeatureConfig = {
  subscriptions: SubscriptionsConfig;
  graphql: GraphqlConfig;
  auth: Pick<AuthConfig, 'propagation'>;
  server: Pick<ServerConfig, 'requestIdHeader'>;
};

interface SubscriptionsShared {
  logger: Logger;
  metrics: GatewayMetrics;
  supergraph: SupergraphState;
  phase: () => GatewayPhase;
}

/**
 * Subscriptions: WebSocket (`graphql-transport-ws`), SSE and multipart at the GraphQL path, each
 * operation run through Apollo Server and the gateway's plugins, each subscription planned with
 * the query planner and federated on every event through the subgraph data sources (service.ts).
 * On shutdown every subscription ends ("going away") before the server waits for requests.
 */
export const subscriptionsFeature: Feature<SubscriptionsFeatureConfig, SubscriptionsShared> = {
  name: 'subscriptions',
  after: ['auth', 'subgraphs', 'persisted', 'graphql'],
  setup({ config, shared, services }) {
    const settings = config.subscriptions;
    const logger = shared.logger.child({ component: 'subscriptions' });
    const authenticator = services.get('authenticator');
    const documents = services.get('documents');
    const service = new SubscriptionService({
      config: settings,
      logger,
      buildService: services.get('buildSubgraphService'),
      subgraphs: () => shared.supergraph.subgraphs,
      identityHeaders: (context) => principalHeaders(context.state.principal, config.auth.propagation),
      requestIdHeader: config.server.requestIdHeader,
      onEnd: (context, reason, startedAt) =>
        logger.info(
          {
            reqId: context.requestId,
            protocol: context.state.subscriptionProtocol,
            operationName: context.state.operationName,
            principal: context.state.principal?.clientKey,
            reason,
            durationMs: Date.now() - startedAt,
          },
          'subscription ended',
        ),
    });
    let apollo: ApolloServer<GatewayContext> | undefined;
    const run = async (
      params: Record<string, unknown>,
      context: GatewayContext,
      headers: Parameters<typeof runOperation>[4],
    ): Promise<RunOutcome> => {
      if (!apollo) throw new GatewayError('SUPERGRAPH_NOT_LOADED');
      return runOperation(apollo, documents, params, context, headers);
    };
    let sockets: ReturnType<typeof serveWebSocket> | undefined;
    const path = config.graphql.path;
    return {
      apolloPlugins: settings.enabled ? [useSubscriptions(service)] : [],
      register(app) {
        if (!settings.enabled) return;
        app.addHook('preHandler', async (request, reply) => {
          if (request.routeOptions.url !== path || (request.method !== 'GET' && request.method !== 'POST')) return;
          const protocol = streamProtocol(request);
          if (!protocol) return;
          if (shared.phase() !== 'ready') throw new GatewayError(shared.phase() === 'starting' ? 'SUPERGRAPH_NOT_LOADED' : 'SHUTTING_DOWN');
          checkGraphqlRequest(request, config.graphql, true);
          await serveHttpStream(request, reply, protocol, { run, keepAliveMs: settings.keepAliveMs });
          return reply;
        });
        sockets = serveWebSocket(app.server, {
          path,
          logger,
          accepting: () => shared.phase() === 'ready',
          authenticate: (headers, ip) => authenticator.authenticate({ headers, ip, log: logger } as unknown as FastifyRequest),
          run,
        });
        // Before the server waits for in-flight requests: streams would hold it open for ever.
        app.addHook('preClose', async () => {
          await service.endAll('shutdown', {
            message: 'The gateway is shutting down; subscribe again.',
            extensions: { code: 'SHUTTING_DOWN' },
          });
          await sockets?.close();
        });
      },
      afterLoad(loaded) {
        apollo = loaded;
      },
      health: () => ({ subscriptions: { active: service.active, connections: sockets?.connections ?? 0 } }),
    };
  },
};
