import type { ServiceMap } from '@apollo/gateway';
import { ERRORS, defaultRootName, errorCodeDef } from '@apollo/federation-internals';
import type { FetchNode, ResponsePath } from '@apollo/query-planner';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import {
  GraphQLDataSourceRequestKind,
  NodeFetchHeaders,
  OpenTelemetrySpanNames,
  Trace,
  dataRewrites,
  generateHydratedPaths,
  google,
  inSpan,
  type Cursor,
  type DecodedTrace,
  type Dict,
  type ExecutionContext,
  type TelemetryConfig,
  type TraceNode,
} from './apollo-executor-parts.js';
import { deepMerge, executeSelectionSet } from './plan-data.js';

const hasOwn = Object.prototype.hasOwnProperty;

/** A Fetch node of a query plan, as `@apollo/gateway` 2.14 runs it (`executeFetch` in executeQueryPlan.ts). */
export async function executeFetch(
  context: ExecutionContext,
  fetch: FetchNode,
  cursor: Cursor,
  traceNode: TraceNode | null,
  telemetryConfig: TelemetryConfig,
): Promise<void> {
  const service = context.serviceMap[fetch.serviceName];
  return inSpan(OpenTelemetrySpanNames.FETCH, { service: fetch.serviceName }, telemetryConfig, async () => {
    if (!service) throw new Error(`Couldn't find service with name "${fetch.serviceName}"`);
    const entities: Dict[] = Array.isArray(cursor.data)
      ? (cursor.data as unknown[]).filter((entity): entity is Dict => entity !== null && entity !== undefined)
      : [cursor.data as Dict];
    if (entities.length < 1) return;
    const variables = Object.create(null) as Dict;
    if (fetch.variableUsages) {
      const provided = context.requestContext.request.variables as Dict | undefined;
      for (const name of fetch.variableUsages) {
        if (provided && hasOwn.call(provided, name) && typeof provided[name] !== 'undefined') variables[name] = provided[name];
      }
    }
    if (!fetch.requires) {
      const received = await sendOperation(context, fetch, cursor, traceNode, service, variables);
      if (received) dataRewrites.applyRewrites(context.supergraphSchema, fetch.outputRewrites, received);
      for (const entity of entities) deepMerge(entity, received);
      return;
    }
    const representations: Dict[] = [];
    const representationToEntity: number[] = [];
    for (let index = 0; index < entities.length; index++) {
      const representation = executeSelectionSet(context.supergraphSchema, entities[index] as Dict, fetch.requires);
      if (representation && representation.__typename) {
        dataRewrites.applyRewrites(context.supergraphSchema, fetch.inputRewrites, representation);
        representations.push(representation);
        representationToEntity.push(index);
      }
    }
    if (representations.length < 1) return;
    if ('representations' in variables) throw new Error(`Variables cannot contain key "representations"`);
    const received = await sendOperation(context, fetch, cursor, traceNode, service, { ...variables, representations });
    if (!received) return;
    const receivedEntities = received._entities;
    if (!(receivedEntities && Array.isArray(receivedEntities))) throw new Error(`Expected "data._entities" in response to be an array`);
    if (receivedEntities.length !== representations.length)
      throw new Error(`Expected "data._entities" to contain ${representations.length} elements`);
    // Apollo's loop runs to entities.length; past representations.length it finds nothing to do.
    for (let i = 0; i < representations.length; i++) {
      const receivedEntity = receivedEntities[i] as Dict | null;
      const existingEntity = entities[representationToEntity[i] as number] as Dict;
      if (receivedEntity && !receivedEntity.__typename) receivedEntity.__typename = existingEntity.__typename;
      dataRewrites.applyRewrites(context.supergraphSchema, fetch.outputRewrites, receivedEntity);
      deepMerge(existingEntity, receivedEntity);
    }
  });
}

/** Sends one fetch's operation to its subgraph (the data source's process()) and records its errors and trace. */
async function sendOperation(
  context: ExecutionContext,
  fetch: FetchNode,
  cursor: Cursor,
  traceNode: TraceNode | null,
  service: ServiceMap[string],
  variables: Dict,
): Promise<Dict | null | undefined> {
  const logger = context.requestContext.logger || console;
  const requestContext = context.requestContext;
  let http: { headers: unknown } | undefined;
  if (traceNode) {
    http = { headers: new NodeFetchHeaders({ 'apollo-federation-include-trace': 'ftv1' }) };
    if (requestContext.metrics?.startHrTime) {
      traceNode.sentTimeOffset = durationHrTimeToNanos(process.hrtime(requestContext.metrics.startHrTime));
    }
    traceNode.sentTime = dateToProtoTimestamp(new Date());
  }
  const response = await service.process({
    kind: GraphQLDataSourceRequestKind.INCOMING_OPERATION,
    request: { query: fetch.operation, variables, operationName: fetch.operationName, http },
    incomingRequestContext: requestContext,
    context: requestContext.context,
    document: fetch.operationDocumentNode,
    pathInIncomingRequest: cursor.path,
  } as unknown as Parameters<ServiceMap[string]['process']>[0]);
  if (response.errors) {
    const errorPath = lazyErrorPathGenerator(fetch, cursor);
    context.errors.push(...response.errors.map((error) => downstreamServiceError(error, fetch.serviceName, errorPath)));
    if (!response.extensions?.ftv1) {
      const errorPaths = response.errors.map((error) => ({ subgraph: fetch.serviceName, path: error.path }));
      const metrics = requestContext.metrics as { nonFtv1ErrorPaths?: unknown[] };
      if (metrics.nonFtv1ErrorPaths) metrics.nonFtv1ErrorPaths.push(...errorPaths);
      else metrics.nonFtv1ErrorPaths = errorPaths;
    }
  }
  if (traceNode) {
    traceNode.receivedTime = dateToProtoTimestamp(new Date());
    if (response.extensions && response.extensions.ftv1) {
      const traceBase64 = response.extensions.ftv1 as string;
      let traceBuffer: Buffer | undefined;
      let traceParsingFailed = false;
      try {
        traceBuffer = Buffer.from(traceBase64, 'base64');
      } catch (err) {
        logger.error(`error decoding base64 for federated trace from ${fetch.serviceName}: ${String(err)}`);
        traceParsingFailed = true;
      }
      if (traceBuffer) {
        try {
          traceNode.trace = Trace.decode(traceBuffer);
        } catch (err) {
          logger.error(`error decoding protobuf for federated trace from ${fetch.serviceName}: ${String(err)}`);
          traceParsingFailed = true;
        }
      }
      const trace = traceNode.trace as DecodedTrace | undefined;
      if (trace) {
        const rootTypeName = defaultRootName(context.operationContext.operation.operation);
        trace.root?.child?.forEach((child) => {
          child.parentType = rootTypeName;
        });
      }
      traceNode.traceParsingFailed = traceParsingFailed;
    }
  }
  return response.data as Dict | null | undefined;
}

function lazyErrorPathGenerator(fetch: FetchNode, cursor: Cursor): (errorPath: GraphQLFormattedError['path']) => ResponsePath | undefined {
  let hydratedPaths: ResponsePath[] | undefined;
  return (errorPath) => {
    if (fetch.requires && typeof errorPath?.[1] === 'number') {
      if (!hydratedPaths) {
        hydratedPaths = [];
        generateHydratedPaths([], cursor.path, cursor.fullResult, hydratedPaths);
      }
      const hydratedPath = hydratedPaths[errorPath[1]] ?? [];
      return [...hydratedPath, ...errorPath.slice(2)];
    }
    return errorPath ? [...cursor.path, ...errorPath.slice()] : undefined;
  };
}

function downstreamServiceError(
  originalError: GraphQLFormattedError,
  serviceName: string,
  generateErrorPath: (path: GraphQLFormattedError['path']) => ResponsePath | undefined,
): GraphQLError {
  let { message } = originalError;
  const { extensions } = originalError;
  if (!message) message = `Error while fetching subquery from service "${serviceName}"`;
  const errorOptions = {
    // Apollo passes the subgraph's error as it came (not an Error instance) and reads it back as such.
    originalError: originalError as unknown as Error,
    path: generateErrorPath(originalError.path),
    extensions: { ...extensions, serviceName },
  };
  const codeDef = errorCodeDef(originalError);
  if (!codeDef && extensions?.code) return new GraphQLError(message, errorOptions);
  return (codeDef ?? ERRORS.DOWNSTREAM_SERVICE_ERROR).err(message, errorOptions);
}

function durationHrTimeToNanos(hrtime: [number, number]): number {
  return hrtime[0] * 1e9 + hrtime[1];
}

function dateToProtoTimestamp(date: Date): TraceNode {
  const totalMillis = +date;
  const millis = totalMillis % 1000;
  return new google.protobuf.Timestamp({ seconds: (totalMillis - millis) / 1000, nanos: millis * 1e6 });
}
