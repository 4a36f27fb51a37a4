import { Readable } from 'node:stream';
import { HeaderMap, type ApolloServer, type HTTPGraphQLRequest, type HTTPGraphQLResponse } from '@apollo/server';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { buildContext, buildOperationContext, requestState, type GatewayContext, type RequestState } from '../context.js';
import { ERRORS, GatewayError, graphqlErrorBody } from '../errors.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import type { DocumentResolver, OperationParams, Resolution } from '../persisted/documents.js';
import { queryStringParams } from './query-string-params.js';

export interface GraphqlHandlerOptions {
  apollo: ApolloServer<GatewayContext>;
  /** Resolves persisted-query hashes, document ids and the trusted-documents list before Apollo sees a request. */
  documents: DocumentResolver;
  metrics?: GatewayMetrics | undefined;
}

/** One operation of a batched request. */
export interface BatchOperation {
  state: RequestState;
  /** The HTTP status Apollo chose for this operation alone (the batch itself answers 200). */
  status: number;
  durationMs: number;
}

declare module '../context.js' {
  interface RequestState {
    /**
     * Set on the HTTP request's state when it carried a batch: one entry per operation, in order,
     * each with a state of its own (the state the plugins of that operation wrote).
     */
    batch?: BatchOperation[] | undefined;
  }
}

type Handler = (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

/**
 * The GraphQL route's handler (in place of `@as-integrations/fastify`'s, through the same public
 * `executeHTTPGraphQLRequest`). It adds two things Apollo Server does not do the gateway's way:
 *
 * - **Documents by id**: APQ and trusted documents are resolved here, before Apollo parses
 *   anything, so an unlisted document is refused without being parsed and every outcome has a
 *   registry code. Apollo's own APQ is off (`persistedQueries: false`).
 * - **Batches**: Apollo runs the operations of a batch concurrently with one shared context value,
 *   so per-operation cost, charge, errors and log fields would overwrite each other. Here each
 *   operation runs through Apollo on its own, with its own context, one after the other, in the
 *   order sent. A batch has been checked (not empty, at most `maxOperations`, each entry an
 *   object) by `checkGraphqlRequest` already.
 */
export function createGraphqlHandler(options: GraphqlHandlerOptions): Handler {
  const { apollo, documents, metrics } = options;

  async function single(request: FastifyRequest, reply: FastifyReply): Promise<unknown> {
    const state = requestState(request);
    const isGet = request.method === 'GET';
    const params = isGet ? queryStringParams(request.query) : (request.body as OperationParams);
    const resolution = await documents.resolve(params, state.principal);
    if (!resolution.ok) throw new GatewayError(resolution.code, resolution.message);
    state.trustedDocumentId = resolution.trustedId;
    const httpGraphQLRequest: HTTPGraphQLRequest = {
      method: request.method.toUpperCase(),
      headers: headerMap(request),
      search: isGet ? searchOf(resolution.params) : '',
      body: isGet ? request.body : resolution.params,
    };
    const response = await apollo.executeHTTPGraphQLRequest({ httpGraphQLRequest, context: async () => buildContext(request) });
    await register(resolution, state.operationType !== undefined);
    for (const [name, value] of response.headers) void reply.header(name, value);
    void reply.code(response.status ?? 200);
    if (response.body.kind === 'complete') return response.body.string;
    return reply.send(Readable.from(response.body.asyncIterator));
  }

  async function batch(request: FastifyRequest, reply: FastifyReply, items: OperationParams[]): Promise<unknown> {
    const operations: BatchOperation[] = [];
    requestState(request).batch = operations;
    metrics?.batchSize.observe(items.length);
    const headers = new HeaderMap();
    const slots: string[] = [];
    const requestHeaders = headerMap(request);
    for (const item of items) {
      const context = buildOperationContext(request);
      const started = performance.now();
      let status: number;
      const resolution = await documents.resolve(item, context.state.principal);
      if (!resolution.ok) {
        context.state.errorCodes = [resolution.code];
        status = ERRORS[resolution.code].status;
        slots.push(JSON.stringify(graphqlErrorBody(resolution.code, resolution.message)));
      } else {
        context.state.trustedDocumentId = resolution.trustedId;
        const response = await apollo.executeHTTPGraphQLRequest({
          httpGraphQLRequest: { method: 'POST', headers: requestHeaders, search: '', body: resolution.params },
          context: async () => context,
        });
        await register(resolution, context.state.operationType !== undefined);
        status = response.status ?? 200;
        mergeHeaders(headers, response);
        slots.push(await completeBody(response));
      }
      operations.push({ state: context.state, status, durationMs: performance.now() - started });
    }
    for (const [name, value] of headers) void reply.header(name, value);
    if (!headers.has('content-type')) void reply.header('content-type', 'application/json; charset=utf-8');
    // The batch was handled: 200, and each operation's outcome is in its own slot.
    void reply.code(200);
    return `[${slots.join(',')}]`;
  }

  async function register(resolution: Resolution, accepted: boolean): Promise<void> {
    // Registered only once Apollo parsed and validated the document (it resolved an operation), so
    // the shared store never holds junk.
    if (resolution.ok && resolution.register && accepted) await documents.register(resolution.register);
  }

  return async (request, reply) => {
    if (Array.isArray(request.body)) return batch(request, reply, request.body as OperationParams[]);
    return single(request, reply);
  };
}

/** Headers of one operation's answer into the batch's: later operations win (the rate-limit headers then show the budget after the last charge). */
function mergeHeaders(into: HeaderMap, response: HTTPGraphQLResponse): void {
  for (const [name, value] of response.headers) {
    if (name === 'content-type' && into.has(name)) continue;
    into.set(name, value);
  }
}

async function completeBody(response: HTTPGraphQLResponse): Promise<string> {
  if (response.body.kind === 'complete') return response.body.string;
  await response.body.asyncIterator.return?.();
  return JSON.stringify(graphqlErrorBody('BAD_REQUEST', 'Incremental delivery (`@defer`) is not supported inside a batch.'));
}

function headerMap(request: FastifyRequest): HeaderMap {
  const map = new HeaderMap();
  for (const [name, value] of Object.entries(request.headers)) {
    if (value) map.set(name, Array.isArray(value) ? value.join(', ') : value);
  }
  return map;
}

/** The query string Apollo reads a GET from, rebuilt from the resolved parameters. */
function searchOf(params: OperationParams): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    for (const one of Array.isArray(value) ? value : [value]) {
      if (one === undefined || one === null) continue;
      search.append(name, typeof one === 'string' ? one : JSON.stringify(one));
    }
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}
