import proxyAddr, { compile } from '@fastify/proxy-addr';
import type { FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { AuthConfig } from '../auth/config.js';
import { principalHeaders, type Principal } from '../auth/principal.js';
import type { ApolloServer } from '@apollo/server';
import { requestState, type GatewayContext } from '../context.js';
import { GatewayError } from '../errors.js';
import type { Feature, GatewayPhase } from '../feature.js';
import type { GraphqlConfig } from '../graphql/config.js';
import type { ServerConfig } from '../http/config.js';
import { checkGraphqlRequest } from '../http/graphql-request.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import type { SupergraphState } from '../supergraph/state.js';
import type { SubscriptionsConfig } from './config.js';
import { watchCredentials, type CredentialsLost } from './credentials.js';
import { serveHttpStream, streamProtocol } from './http-streams.js';
import { ClientLimits } from './limits.js';
import { SubscriptionMetrics } from './metrics.js';
import { useSubscriptions } from './plugin.js';
import { runOperation, type RunOutcome } from './run.js';
import { SubscriptionService } from './service.js';
import { serveWebSocket } from './websocket.js';

/**
 * The client's headers as the subgraph rules read them, without the WebSocket handshake's own
 * (`sec-websocket-key` differs per socket: forwarded by a `matching` rule, no two subscriptions
 * would ever share an upstream connection).
 */
function withoutHandshake(headers: ReadonlyMap<string, string> | undefined): ReadonlyMap<string, string> {
  const kept = new Map<string, string>();
  for (const [name, value] of headers ?? []) if (!name.startsWith('sec-websocket-')) kept.set(name, value);
  return kept;
}

type SubscriptionsFeatureConfig = {
  subscriptions: SubscriptionsConfig;
  graphql: GraphqlConfig;
  auth: Pick<AuthConfig, 'propagation'>;
  server: Pick<ServerConfig, 'requestIdHeader' | 'trustedProxies'>;
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
  after: ['edge', 'auth', 'subgraphs', 'persisted', 'graphql'],
  setup({ config, shared, services }) {
    const settings = config.subscriptions;
    const logger = shared.logger.child({ component: 'subscriptions' });
    const authenticator = services.get('authenticator');
    const upgrades = services.get('upgrades');
    const documents = services.get('documents');
    const headerRules = services.get('subgraphHeaderRules');
    // As Fastify's trustProxy reads it for request.ip on every HTTP route.
    const trusted = config.server.trustedProxies.length > 0 ? compile([...config.server.trustedProxies]) : undefined;
    const service = new SubscriptionService({
      config: settings,
      logger,
      buildService: services.get('buildSubgraphService'),
      subgraphs: () => shared.supergraph.subgraphs,
      upstreamHeaders: ({ contextValue, request }, subgraph) => {
        const { principal } = contextValue.state;
        const rules = headerRules.of(subgraph, contextValue.state).request;
        const forwarded: Record<string, string> = {};
        if (!rules.empty) {
          for (const [name, values] of rules.apply(withoutHandshake(request.http?.headers), principal)) forwarded[name] = values.join(', ');
        }
        return { ...forwarded, ...principalHeaders(principal, config.auth.propagation) };
      },
      requestIdHeader: config.server.requestIdHeader,
      // Each event: the fields the caller may not see null (as in a query's answer), then its actual
      // cost charged to the client's budget; out of budget, the subscription ends.
      afterEvent: (context) => async (executed) => {
        const result = context.state.authorizeEvent?.(executed) ?? executed;
        const charged = await context.state.chargeEvent?.(result.data);
        return charged && !charged.allowed ? { end: 'rate_limited', error: charged.error } : { result };
      },
      onEnd: (context, reason, startedAt, counts) => {
        metrics.countEnd(context.state.subscriptionProtocol, reason);
        logger.info(
          {
            reqId: context.requestId,
            protocol: context.state.subscriptionProtocol,
            operationName: context.state.operationName,
            principal: context.state.principal?.clientKey,
            reason,
            durationMs: Date.now() - startedAt,
            events: counts.delivered,
            dropped: counts.dropped,
          },
          'subscription ended',
        );
      },
      onCount: (context, result, n) => metrics.events.inc({ protocol: context.state.subscriptionProtocol ?? 'unknown', result }, n),
    });
    const limits = new ClientLimits(settings);
    const metrics = new SubscriptionMetrics(shared.metrics.registry, {
      active: () => service.activeByProtocol(),
      websocketConnections: () => sockets?.connections ?? 0,
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
    // The transports authenticate outside a Fastify request (the WebSocket handshake, a re-check).
    const authenticate = (headers: Record<string, string | string[] | undefined>, ip: string) =>
      authenticator.authenticate({ headers, ip, log: logger } as unknown as FastifyRequest);
    const watch = (
      principal: Principal,
      headers: Record<string, string | string[] | undefined>,
      ip: string,
      onLost: (reason: CredentialsLost) => void,
    ) => watchCredentials({ principal, recheck: () => authenticate(headers, ip), recheckMs: settings.credentialsRecheckMs, onLost });
    let sockets: ReturnType<typeof serveWebSocket> | undefined;
    const path = config.graphql.path;
    return {
      apolloPlugins: settings.enabled ? [useSubscriptions(service, limits)] : [],
      register(app) {
        if (!settings.enabled) return;
        app.addHook('preHandler', async (request, reply) => {
          if (request.routeOptions.url !== path || (request.method !== 'GET' && request.method !== 'POST')) return;
          const protocol = streamProtocol(request);
          if (!protocol) return;
          if (shared.phase() !== 'ready') throw new GatewayError(shared.phase() === 'starting' ? 'SUPERGRAPH_NOT_LOADED' : 'SHUTTING_DOWN');
          checkGraphqlRequest(request, config.graphql, true);
          await serveHttpStream(request, reply, protocol, {
            run,
            keepAliveMs: settings.keepAliveMs,
            watch: (streamed, onLost) => {
              const principal = requestState(streamed).principal;
              if (!principal) return () => undefined;
              return watch(principal, streamed.headers, streamed.ip, onLost);
            },
          });
          return reply;
        });
        sockets = serveWebSocket(upgrades, {
          path,
          logger,
          accepting: () => shared.phase() === 'ready',
          authenticate,
          run,
          watch,
          connectionSlot: (principal) => limits.take('maxConnections', principal),
          clientIp: (request) => (trusted ? proxyAddr(request, trusted) : (request.socket.remoteAddress ?? '')),
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
