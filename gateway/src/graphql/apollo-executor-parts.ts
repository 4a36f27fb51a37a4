import { createRequire } from 'node:module';
import type { executeQueryPlan as apolloExecuteQueryPlan, ServiceMap } from '@apollo/gateway';
import type { Operation } from '@apollo/federation-internals';
import type { FetchNode, ResponsePath } from '@apollo/query-planner';
import { SpanStatusCode, type Attributes, type Span, type Tracer } from '@opentelemetry/api';
import type { GraphQLError, GraphQLSchema } from 'graphql';
import type { ComputeResponseInput, ComputeResponseOutput } from './result-shaping.js';

/**
 * What the gateway's query plan execution (query-plan-execution.ts, plan-fetch.ts, plan-data.ts)
 * shares: its types, and the parts of `@apollo/gateway` 2.14 it uses as they are (rewrites, hydrated
 * error paths, the tracer, trace protobufs, result shaping), read from Apollo's own modules.
 */

export type ExecuteQueryPlan = typeof apolloExecuteQueryPlan;
export type RequestContext = Parameters<ExecuteQueryPlan>[2];
export type OperationContext = Parameters<ExecuteQueryPlan>[3];
export type TelemetryConfig = Parameters<ExecuteQueryPlan>[6];
export type ExecutionResult = Awaited<ReturnType<ExecuteQueryPlan>>;
export type Dict = Record<string, unknown>;

interface TraceNodeClass {
  new (properties?: object): TraceNode;
}
export type TraceNode = Record<string, unknown> & { nodes: TraceNode[] };
interface TraceModule {
  Trace: {
    QueryPlanNode: TraceNodeClass & {
      SequenceNode: TraceNodeClass;
      ParallelNode: TraceNodeClass;
      FlattenNode: TraceNodeClass;
      FetchNode: TraceNodeClass;
      ConditionNode: TraceNodeClass;
      ResponsePathElement: TraceNodeClass;
    };
    decode(buffer: Buffer): DecodedTrace;
  };
  google: { protobuf: { Timestamp: TraceNodeClass } };
}
export type DecodedTrace = TraceNode & { root?: { child?: { parentType?: string }[] } };

const requireHere = createRequire(import.meta.url);
const requireFromGateway = createRequire(requireHere.resolve('@apollo/gateway'));
export const { Trace, google } = requireFromGateway('@apollo/usage-reporting-protobuf') as TraceModule;
export const { Headers: NodeFetchHeaders } = requireFromGateway('node-fetch') as { Headers: new (init: Record<string, string>) => unknown };
export const { GraphQLDataSourceRequestKind } = requireHere('@apollo/gateway/dist/datasources/types.js') as {
  GraphQLDataSourceRequestKind: { INCOMING_OPERATION: number };
};
export const dataRewrites = requireHere('@apollo/gateway/dist/dataRewrites.js') as {
  applyRewrites(schema: GraphQLSchema, rewrites: FetchNode['inputRewrites'], value: unknown): void;
  isObjectOfType(schema: GraphQLSchema, object: Dict, typeCondition: string): boolean;
};
export const { tracer, OpenTelemetrySpanNames, recordExceptions } = requireHere('@apollo/gateway/dist/utilities/opentelemetry.js') as {
  tracer: Tracer;
  OpenTelemetrySpanNames: { EXECUTE: string; FETCH: string; POST_PROCESSING: string };
  recordExceptions(span: Span, exceptions: readonly unknown[], config: TelemetryConfig): void;
};
export const { generateHydratedPaths } = requireHere('@apollo/gateway/dist/executeQueryPlan.js') as {
  generateHydratedPaths(parent: ResponsePath, path: ResponsePath, data: unknown, result: ResponsePath[]): void;
};
/** Read at every call, as Apollo's executor does: the gateway's result shaping when installed. */
export const resultShaping = requireHere('@apollo/gateway/dist/resultShaping.js') as {
  computeResponse(input: ComputeResponseInput): ComputeResponseOutput;
};

/** One request's execution. */
export interface ExecutionContext {
  operationContext: OperationContext;
  operation: Operation;
  serviceMap: ServiceMap;
  requestContext: RequestContext;
  supergraphSchema: GraphQLSchema;
  errors: GraphQLError[];
}

/** Where a plan node works: its path in the response, the data there, and the whole response. */
export interface Cursor {
  path: ResponsePath;
  data: unknown;
  fullResult: Dict;
}

/**
 * Runs `work` in an active span of Apollo's tracer, as Apollo's executor does for its execute and
 * fetch spans: a throw is recorded on the span (as the telemetry config says), marks it failed and
 * goes on up; the span ends either way.
 */
export function inSpan<T>(
  name: string,
  attributes: Attributes | undefined,
  telemetryConfig: TelemetryConfig,
  work: (span: Span) => Promise<T>,
): Promise<T> {
  const run = async (span: Span): Promise<T> => {
    try {
      return await work(span);
    } catch (err) {
      recordExceptions(span, [err], telemetryConfig);
      span.setStatus({ code: SpanStatusCode.ERROR });
      throw err;
    } finally {
      span.end();
    }
  };
  return attributes ? tracer.startActiveSpan(name, { attributes }, run) : tracer.startActiveSpan(name, run);
}
