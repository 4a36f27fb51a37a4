import { ApolloGateway, type GraphQLDataSource, type ServiceEndpointDefinition } from '@apollo/gateway';
import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import type { Logger } from 'pino';
import type { SupergraphConfig } from '../supergraph/config.js';
import { productionSettings, type GraphqlConfig } from './config.js';
import type { GatewayContext } from '../context.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import { supergraphSource } from '../supergraph/source.js';
import type { SupergraphState } from '../supergraph/state.js';
import { installPlanExecution } from './apollo-execution.js';
import { formatGatewayError } from './format-error.js';
import { maxDirectivesRule } from './request-limits.js';

export interface ApolloServerOptions {
  config: { graphql: GraphqlConfig; supergraph: SupergraphConfig };
  logger: Logger;
  metrics: GatewayMetrics;
  supergraph: SupergraphState;
  buildService: (definition: ServiceEndpointDefinition) => GraphQLDataSource;
  /** Every feature's Apollo plugins, in the features' order. */
  plugins: ApolloServerPlugin<GatewayContext>[];
}

/** Apollo Server on `@apollo/gateway`, serving the supergraph from its configured source (file, URL or Uplink). */
export function createApolloServer(options: ApolloServerOptions): ApolloServer<GatewayContext> {
  const { config, logger, metrics } = options;
  installPlanExecution(logger);
  const gateway = withoutApolloTelemetry(
    () =>
      new ApolloGateway({
        logger: logger.child({ component: 'apollo-gateway' }),
        supergraphSdl: supergraphSource(config.supergraph, {
          logger: logger.child({ component: 'supergraph' }),
          metrics,
          state: options.supergraph,
        }),
        buildService: options.buildService,
      }),
  );
  return new ApolloServer<GatewayContext>({
    gateway,
    logger: logger.child({ component: 'apollo-server' }),
    // Always on for Apollo: the introspection policy decides per caller (tier or scope).
    introspection: true,
    parseOptions: { maxTokens: config.graphql.maxTokens },
    validationRules: [maxDirectivesRule(config.graphql.maxDirectives)],
    hideSchemaDetailsFromClientErrors: productionSettings(config.graphql).hideSuggestions,
    includeStacktraceInErrorResponses: false,
    // main.ts owns shutdown; Apollo's own handler would stop it mid-drain and re-raise the signal.
    stopOnTerminationSignals: false,
    // Batches and persisted queries are handled by the route's handler (http/graphql-handler.ts),
    // which hands Apollo one operation at a time with its document resolved.
    allowBatchedHttpRequests: false,
    persistedQueries: false,
    csrfPrevention: { requestHeaders: config.graphql.csrfRequiredHeaders },
    formatError: formatGatewayError,
    // Apollo's default appends a newline to the JSON: a second string joined to the first, which
    // the HTTP layer must then copy into one before it can measure or write it. The answer is the
    // JSON alone.
    stringifyResult: (result) => JSON.stringify(result),
    plugins: options.plugins,
  });
}

/**
 * `@apollo/gateway` reports anonymous usage metrics to Apollo's servers unless
 * `APOLLO_TELEMETRY_DISABLED` is set, and first probes the cloud metadata addresses (169.254.169.254)
 * to describe the host. A gateway at a company's front door makes no outbound call its operators did
 * not configure, so the switch is set while the gateway is built (it is read only then) and put back.
 */
function withoutApolloTelemetry<T>(build: () => T): T {
  const before = process.env.APOLLO_TELEMETRY_DISABLED;
  process.env.APOLLO_TELEMETRY_DISABLED = 'true';
  try {
    return build();
  } finally {
    if (before === undefined) delete process.env.APOLLO_TELEMETRY_DISABLED;
    else process.env.APOLLO_TELEMETRY_DISABLED = before;
  }
}
