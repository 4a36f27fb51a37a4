import type { ApolloServerPlugin } from '@apollo/server';
import type { GatewayContext } from '../context.js';
import { failSpan } from './request-trace.js';

export interface TracingPluginOptions {
  /** Put the trace id in `extensions.traceId` of every response. @default false */
  traceIdInExtensions?: boolean;
}

/**
 * The GraphQL spans Apollo Server does not make: `graphql.parse` and `graphql.validate` (document
 * validation against the schema), children of the request span. `@apollo/gateway` makes the rest
 * itself (`gateway.request` → `gateway.validate` (variables), `gateway.plan`, `gateway.execute` →
 * `gateway.fetch` → `gateway.postprocessing`), and the cost plugin makes `gateway.cost`. Sets the
 * operation's name and type on the request span once resolved. Does nothing for a request without
 * a trace (tracing off).
 */
export function useTracing(options: TracingPluginOptions = {}): ApolloServerPlugin<GatewayContext> {
  return {
    async requestDidStart({ contextValue }) {
      const trace = contextValue.state.trace;
      if (!trace) return;
      return {
        async parsingDidStart() {
          const span = trace.startSpan('graphql.parse');
          return async (error) => {
            if (error) failSpan(span, 'GRAPHQL_PARSE_FAILED', error.message);
            span.end();
          };
        },
        async validationDidStart() {
          const span = trace.startSpan('graphql.validate');
          return async (errors) => {
            if (errors?.length) {
              span.setAttribute('gateway.validation.errors', errors.length);
              failSpan(span, 'GRAPHQL_VALIDATION_FAILED', errors[0]?.message);
            }
            span.end();
          };
        },
        async didResolveOperation({ operationName, operation }) {
          trace.span.setAttribute('graphql.operation.name', operationName ?? '(anonymous)');
          if (operation) trace.span.setAttribute('graphql.operation.type', operation.operation);
        },
        async willSendResponse({ response }) {
          if (!options.traceIdInExtensions || response.body.kind !== 'single') return;
          const result = response.body.singleResult;
          result.extensions = { ...result.extensions, traceId: trace.traceId };
        },
      };
    },
  };
}
