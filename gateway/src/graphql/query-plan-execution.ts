import type { Operation, Schema } from '@apollo/federation-internals';
import { assert, operationFromDocument } from '@apollo/federation-internals';
import { evaluateCondition, type PlanNode } from '@apollo/query-planner';
import { SpanStatusCode } from '@opentelemetry/api';
import {
  GraphQLError,
  Kind,
  OperationTypeNode,
  executeSync,
  visit,
  type DocumentNode,
  type FieldNode,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type VariableDefinitionNode,
} from 'graphql';
import {
  OpenTelemetrySpanNames,
  Trace,
  inSpan,
  recordExceptions,
  resultShaping,
  tracer,
  type Cursor,
  type Dict,
  type ExecuteQueryPlan,
  type ExecutionContext,
  type ExecutionResult,
  type OperationContext,
  type TelemetryConfig,
  type TraceNode,
} from './apollo-executor-parts.js';
import { moveIntoCursor } from './plan-data.js';
import { executeFetch } from './plan-fetch.js';

/**
 * `@apollo/gateway`'s `executeQueryPlan` (executeQueryPlan.ts of 2.14), with the same behaviour
 * (the same subgraph requests, merged data, errors and their paths, spans, query plan traces) and
 * less work per request:
 * - the federation `Operation` built from the request's document is kept per document and API
 *   schema (Apollo built it again for every request; it is only read);
 * - a plan node's trace is built only when traces are captured (Apollo built protobuf objects for
 *   every node of every request and dropped them);
 * - a Flatten node's entities are found by walking the path by index into one array (Apollo made a
 *   rest array per step and per element, and a `flatMap` array per list);
 * - representations are built as fast-mode response objects, and an inline fragment's fields go
 *   straight into an empty representation instead of being merged into it key by key.
 * Apollo's helpers that are exported (rewrites, hydrated error paths, the tracer, result shaping)
 * are Apollo's own, read from its modules.
 */

const hasOwn = Object.prototype.hasOwnProperty;

/**
 * The federation operation of a document, per API schema (a new supergraph brings a new one) and
 * operation node (Apollo Server keeps parsed documents, so a repeated query brings the same node).
 */
const operations = new WeakMap<Schema, WeakMap<OperationDefinitionNode, Operation>>();

function operationOf(apiSchema: Schema, operationContext: OperationContext): Operation {
  let byNode = operations.get(apiSchema);
  if (!byNode) {
    byNode = new WeakMap();
    operations.set(apiSchema, byNode);
  }
  let operation = byNode.get(operationContext.operation);
  if (!operation) {
    operation = operationFromDocument(
      apiSchema,
      { kind: Kind.DOCUMENT, definitions: [operationContext.operation, ...Object.values(operationContext.fragments)] },
      { validate: false },
    );
    byNode.set(operationContext.operation, operation);
  }
  return operation;
}

export const executeQueryPlan: ExecuteQueryPlan = async (
  queryPlan,
  serviceMap,
  requestContext,
  operationContext,
  supergraphSchema,
  apiSchema,
  telemetryConfig,
) => {
  const logger = requestContext.logger || console;
  return inSpan(OpenTelemetrySpanNames.EXECUTE, undefined, telemetryConfig, async (span): Promise<ExecutionResult> => {
    const errors: GraphQLError[] = [];
    let operation: Operation;
    try {
      operation = operationOf(apiSchema, operationContext);
    } catch (err) {
      if (err instanceof GraphQLError) return { errors: [err] };
      throw err;
    }
    const context: ExecutionContext = { operationContext, operation, serviceMap, requestContext, supergraphSchema, errors };
    const unfilteredData = Object.create(null) as Dict;
    const captureTraces = !!requestContext.metrics?.captureTraces;
    if (queryPlan.node?.kind === 'Subscription') throw new Error('Execution of subscriptions not supported by gateway');
    if (queryPlan.node) {
      const traceNode = await executeNode(
        context,
        queryPlan.node,
        { path: [], data: unfilteredData, fullResult: unfilteredData },
        captureTraces,
        telemetryConfig,
      );
      if (captureTraces) (requestContext.metrics as { queryPlanTrace?: unknown }).queryPlanTrace = traceNode;
    }
    const result = await tracer.startActiveSpan(OpenTelemetrySpanNames.POST_PROCESSING, async (span): Promise<ExecutionResult> => {
      let data: Dict | null | undefined;
      try {
        const variables = requestContext.request.variables as Dict | undefined;
        const shaped = resultShaping.computeResponse({
          operation,
          variables,
          input: unfilteredData,
          introspectionHandling: (f) =>
            executeIntrospection(
              operationContext.schema,
              f.expandFragments().toSelectionNode(),
              operationContext.operation.variableDefinitions,
              variables,
            ),
        });
        data = shaped.data;
        if (errors.length === 0 && shaped.errors.length > 0) {
          recordExceptions(span, shaped.errors, telemetryConfig);
          span.setStatus({ code: SpanStatusCode.ERROR });
          return { extensions: { valueCompletion: shaped.errors }, data };
        }
      } catch (error) {
        recordExceptions(span, [error], telemetryConfig);
        span.setStatus({ code: SpanStatusCode.ERROR });
        if (error instanceof GraphQLError) return { errors: [error] };
        if (error instanceof Error) return { errors: [new GraphQLError(error.message, { originalError: error })] };
        logger.error(`Unexpected error during query plan execution: ${String(error)}`);
        return { errors: [new GraphQLError('Unexpected error during query plan execution')] };
      } finally {
        span.end();
      }
      return errors.length === 0 ? { data } : { errors, data };
    });
    if (result.errors) {
      recordExceptions(span, result.errors, telemetryConfig);
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
    return result;
  });
};

/** Runs one plan node; returns its trace when traces are captured (else undefined). */
async function executeNode(
  context: ExecutionContext,
  node: PlanNode,
  cursor: Cursor | undefined,
  captureTraces: boolean,
  telemetryConfig: TelemetryConfig,
): Promise<TraceNode | undefined> {
  if (!cursor) return captureTraces ? new Trace.QueryPlanNode() : undefined;
  switch (node.kind) {
    case 'Sequence': {
      const traces: TraceNode[] = [];
      for (const child of node.nodes) {
        const trace = await executeNode(context, child, cursor, captureTraces, telemetryConfig);
        if (trace) traces.push(trace);
      }
      if (!captureTraces) return undefined;
      const sequence = new Trace.QueryPlanNode.SequenceNode();
      sequence.nodes.push(...traces);
      return new Trace.QueryPlanNode({ sequence });
    }
    case 'Parallel': {
      const traces = await Promise.all(node.nodes.map((child) => executeNode(context, child, cursor, captureTraces, telemetryConfig)));
      if (!captureTraces) return undefined;
      return new Trace.QueryPlanNode({ parallel: new Trace.QueryPlanNode.ParallelNode({ nodes: traces }) });
    }
    case 'Flatten': {
      const responsePath = captureTraces
        ? node.path.map((id) => new Trace.QueryPlanNode.ResponsePathElement(typeof id === 'string' ? { fieldName: id } : { index: id }))
        : undefined;
      const trace = await executeNode(context, node.node, moveIntoCursor(cursor, node.path), captureTraces, telemetryConfig);
      if (!captureTraces) return undefined;
      return new Trace.QueryPlanNode({ flatten: new Trace.QueryPlanNode.FlattenNode({ responsePath, node: trace }) });
    }
    case 'Fetch': {
      const trace = captureTraces ? new Trace.QueryPlanNode.FetchNode({ serviceName: node.serviceName }) : null;
      try {
        await executeFetch(context, node, cursor, trace, telemetryConfig);
      } catch (error) {
        context.errors.push(error as GraphQLError);
      }
      return trace ? new Trace.QueryPlanNode({ fetch: trace }) : undefined;
    }
    case 'Condition': {
      const condition = evaluateCondition(
        node,
        context.operation.variableDefinitions,
        context.requestContext.request.variables as Record<string, unknown> | undefined,
      );
      const picked = condition ? node.ifClause : node.elseClause;
      const branch = picked ? await executeNode(context, picked, cursor, captureTraces, telemetryConfig) : undefined;
      if (!captureTraces) return undefined;
      return new Trace.QueryPlanNode({
        condition: new Trace.QueryPlanNode.ConditionNode({
          condition: node.condition,
          ifClause: condition ? branch : undefined,
          elseClause: condition ? undefined : branch,
        }),
      });
    }
    case 'Defer':
      assert(false, `@defer support is not available in the gateway`);
  }
}

function executeIntrospection(
  schema: GraphQLSchema,
  introspectionSelection: FieldNode,
  variableDefinitions: readonly VariableDefinitionNode[] | undefined,
  variableValues: Dict | undefined,
): unknown {
  const { data, errors } = executeSync({
    schema,
    document: introspectionDocument(introspectionSelection, variableDefinitions),
    rootValue: {},
    variableValues,
  });
  assert(
    !errors || errors.length === 0,
    () => `Introspection query for ${JSON.stringify(introspectionSelection)} should not have failed but got ${JSON.stringify(errors)}`,
  );
  assert(data, () => `Introspection query for ${JSON.stringify(introspectionSelection)} should not have failed`);
  const key = introspectionSelection.alias?.value ?? introspectionSelection.name.value;
  return hasOwn.call(data, key) ? data[key] : undefined;
}

function introspectionDocument(
  introspectionSelection: FieldNode,
  variableDefinitions: readonly VariableDefinitionNode[] | undefined,
): DocumentNode {
  const usedVariables = new Set<string>();
  visit(introspectionSelection, {
    Variable: ({ name }) => {
      usedVariables.add(name.value);
    },
  });
  const usedVariableDefinitions = variableDefinitions?.filter((definition) => usedVariables.has(definition.variable.name.value));
  assert(
    usedVariables.size === (usedVariableDefinitions?.length ?? 0),
    () => `Should have found all used variables ${[...usedVariables].join(',')} in definitions ${JSON.stringify(variableDefinitions)}`,
  );
  return {
    kind: Kind.DOCUMENT,
    definitions: [
      {
        kind: Kind.OPERATION_DEFINITION,
        operation: OperationTypeNode.QUERY,
        variableDefinitions: usedVariableDefinitions,
        selectionSet: { kind: Kind.SELECTION_SET, selections: [introspectionSelection] },
      },
    ],
  };
}
