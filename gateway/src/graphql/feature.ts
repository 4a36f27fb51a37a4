import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { context as otelContext } from '@opentelemetry/api';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ServerConfig } from '../http/config.js';
import { productionSettings, type GraphqlConfig } from './config.js';
import { requestState, type RequestState } from '../context.js';
import { GatewayError } from '../errors.js';
import type { Feature, GatewayPhase, RequestDescription } from '../feature.js';
import { decodeRequestBody } from '../http/body-decoding.js';
import { declaredBodyLimit } from '../http/declared-body-limit.js';
import { createGraphqlHandler } from '../http/graphql-handler.js';
import { checkGraphqlRequest } from '../http/graphql-request.js';
import type { GatewayMetrics, RequestOutcome } from '../observability/metrics.js';
import { useOperationResolution } from './operation-resolution-plugin.js';
import { useRequestInfo } from './request-info-plugin.js';
import { useSubgraphErrorMasking } from './subgraph-error-masking-plugin.js';

/**
 * The GraphQL route: GET and POST at `graphql.path` (a declared body over the limit refused first,
 * then the caller authenticated, then the request checked and handed to Apollo Server one
 * operation at a time), 405 for other methods, the response plugins (error masking, operation
 * resolution, what the log line reads), and the per-operation metrics and log fields.
 */
export const graphqlFeature: Feature<
  { graphql: GraphqlConfig; server: Pick<ServerConfig, 'bodyLimitBytes'> },
  { metrics: GatewayMetrics; phase: () => GatewayPhase }
> = {
  name: 'graphql',
  after: ['auth', 'persisted'],
  setup({ config, shared, services }) {
    const { metrics } = shared;
    const path = config.graphql.path;
    const authenticator = services.get('authenticator');
    const documents = services.get('documents');
    const production = productionSettings(config.graphql);
    // Apollo's handler can only be built once Apollo has started (afterLoad); until then SUPERGRAPH_NOT_LOADED.
    let handle: ReturnType<typeof createGraphqlHandler> | undefined;
    const isGraphql = (request: FastifyRequest) => request.routeOptions.url === path;
    return {
      register(app) {
        app.route({
          method: ['GET', 'POST'],
          url: path,
          // A body declared too large is refused first; then who is calling is settled before the body is
          // parsed or any GraphQL work is done.
          onRequest: [declaredBodyLimit(config.server.bodyLimitBytes), authenticator.hook()],
          // Content-Encoding and charset of the body (http/body-decoding.ts).
          preParsing: decodeRequestBody(config.server.bodyLimitBytes),
          preHandler: async (request) => {
            if (shared.phase() === 'starting') throw new GatewayError('SUPERGRAPH_NOT_LOADED');
            checkGraphqlRequest(request, config.graphql);
          },
          handler: async (request, reply) => {
            const run = handle;
            if (!run) throw new GatewayError('SUPERGRAPH_NOT_LOADED');
            const trace = requestState(request).trace;
            // Apollo runs with the request span active: @apollo/gateway's own spans become its children.
            if (trace) return otelContext.with(trace.context, () => run(request, reply));
            return run(request, reply);
          },
        });
        app.route({
          method: ['PUT', 'PATCH', 'DELETE'],
          url: path,
          handler: async () => {
            throw new GatewayError('METHOD_NOT_ALLOWED');
          },
        });
        app.addHook('onResponse', async (request, reply) => {
          if (isGraphql(request)) countOperations(metrics, requestState(request), reply);
        });
      },
      apolloPlugins: [
        // Before useRequestInfo, which records the codes; masking keeps them.
        ...(production.maskSubgraphErrors ? [useSubgraphErrorMasking()] : []),
        useRequestInfo(),
        useOperationResolution(),
        ...(config.graphql.landingPage ? [] : [ApolloServerPluginLandingPageDisabled()]),
      ],
      afterLoad(apollo) {
        handle = createGraphqlHandler({ apollo, documents, metrics });
      },
      describe: (request, reply) => (isGraphql(request) ? describeOperations(request, reply) : undefined),
    };
  },
};

function requestOutcome(status: number, errorCodes: string[], hasData: boolean): RequestOutcome {
  if (status >= 500) return 'server_error';
  if (status >= 400) return 'client_error';
  if (errorCodes.length > 0) return hasData ? 'partial' : 'graphql_error';
  return 'success';
}

/** Counts each GraphQL operation of the request (a batch counts each of its own) in the metrics. */
function countOperations(metrics: GatewayMetrics, state: RequestState, reply: FastifyReply): void {
  const operations = state.batch?.map((op) => ({ state: op.state, status: op.status, seconds: op.durationMs / 1000 })) ?? [
    { state, status: reply.statusCode, seconds: reply.elapsedTime / 1000 },
  ];
  for (const op of operations) {
    const outcome = requestOutcome(op.status, op.state.errorCodes, op.state.hasData);
    metrics.observeRequest(op.state.operationName, op.state.operationType ?? 'unknown', outcome, op.seconds);
  }
}

/** One operation for the request's log line. */
function describeOperation(state: RequestState, status: number) {
  return {
    operationName: state.operationName,
    operationType: state.operationType,
    outcome: requestOutcome(status, state.errorCodes, state.hasData),
    errorCodes: state.errorCodes.length ? state.errorCodes : undefined,
    cost: state.cost,
    trustedDocumentId: state.trustedDocumentId,
  };
}

/**
 * The log fields of a GraphQL request: its operation, or for a batch its size, each operation's
 * outcome and the total cost (metrics count each operation on its own).
 */
function describeOperations(request: FastifyRequest, reply: FastifyReply): RequestDescription {
  const state = requestState(request);
  const span: NonNullable<RequestDescription['span']> = {};
  if (state.errorCodes.length) span['gateway.error_codes'] = [...state.errorCodes];
  if (state.operationType) span['graphql.operation.type'] = state.operationType;
  if (state.batch) {
    const operations = state.batch.map((op) => describeOperation(op.state, op.status));
    const estimated = state.batch.reduce((sum, op) => sum + (op.state.cost?.estimated ?? 0), 0);
    const actual = state.batch.reduce((sum, op) => sum + (op.state.cost?.actual ?? 0), 0);
    return { log: { batchSize: state.batch.length, operations, cost: { estimated, actual } }, span };
  }
  const operation = describeOperation(state, reply.statusCode);
  const operationName = state.operationName ?? requestedOperationName(request);
  span['gateway.outcome'] = operation.outcome;
  if (operationName !== undefined) span['graphql.operation.name'] = operationName;
  return { log: { ...operation, operationName }, span };
}

function requestedOperationName(request: FastifyRequest): string | undefined {
  const source = (request.method === 'GET' ? request.query : request.body) as { operationName?: unknown } | undefined;
  const name = source?.operationName;
  return typeof name === 'string' ? name.slice(0, 100) : undefined;
}
