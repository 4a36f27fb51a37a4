import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type TextMapGetter } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import type { SubgraphTracingOptions } from './tracing-options.js';

export interface SubgraphTracing<TContext extends BaseContext> {
  plugin: ApolloServerPlugin<TContext>;
  /** Exports what is queued and stops the exporter. */
  shutdown(): Promise<void>;
}

const propagator = new W3CTraceContextPropagator();
const headerMapGetter: TextMapGetter<Map<string, string>> = {
  get: (carrier, key) => carrier.get(key),
  keys: (carrier) => [...carrier.keys()],
};

/**
 * How the demo subgraphs join the gateway's traces: the `traceparent` the gateway sent is the parent
 * of a server span per request (`<subgraph> <operation>`), and each root field's resolver (`_entities`
 * included) is a child span. Deeper fields are not traced: one span per field of a list would cost
 * more than the work it measures.
 *
 * Its own provider, not registered globally: the subgraphs share a process with the gateway in
 * tests, and the gateway owns the global one.
 */
export function createSubgraphTracing<TContext extends BaseContext>(
  name: string,
  options: SubgraphTracingOptions,
): SubgraphTracing<TContext> {
  const provider = new BasicTracerProvider({
    resource: defaultResource().merge(resourceFromAttributes({ [ATTR_SERVICE_NAME]: options.serviceName })),
    spanProcessors: [
      new BatchSpanProcessor(new OTLPTraceExporter({ url: options.endpoint }), { scheduledDelayMillis: options.exportDelayMs ?? 1_000 }),
    ],
  });
  const tracer = provider.getTracer('demo-subgraph');
  const plugin: ApolloServerPlugin<TContext> = {
    async requestDidStart({ request }) {
      const parent = request.http ? propagator.extract(ROOT_CONTEXT, request.http.headers, headerMapGetter) : ROOT_CONTEXT;
      const span = tracer.startSpan(name, { kind: SpanKind.SERVER, attributes: { 'gateway.subgraph.name': name } }, parent);
      const context = trace.setSpan(parent, span);
      return {
        async didResolveOperation({ operationName, operation }) {
          span.updateName(`${name} ${operationName ?? operation?.operation ?? 'operation'}`);
          if (operationName) span.setAttribute('graphql.operation.name', operationName);
          if (operation) span.setAttribute('graphql.operation.type', operation.operation);
        },
        async executionDidStart() {
          return {
            willResolveField({ info }) {
              if (info.path.prev !== undefined) return;
              const field = tracer.startSpan(
                `resolve ${info.parentType.name}.${info.fieldName}`,
                { attributes: { 'graphql.field.path': String(info.path.key) } },
                context,
              );
              return (error) => {
                if (error) field.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
                field.end();
              };
            },
          };
        },
        async willSendResponse({ response }) {
          const errors = response.body.kind === 'single' ? response.body.singleResult.errors : undefined;
          if (errors?.length) span.setStatus({ code: SpanStatusCode.ERROR, message: errors[0]?.message });
          span.end();
        },
      };
    },
  };
  return { plugin, shutdown: () => provider.shutdown() };
}
