import type { FastifyRequest } from 'fastify';
import { GatewayError } from '../errors.js';

/**
 * Checks a GraphQL-over-HTTP request before Apollo Server sees it, so that every malformed request
 * gets a specific, stable error code (Apollo answers most of these with a generic BAD_REQUEST).
 * Apollo's own checks stay on behind these as a second line.
 */
export interface GraphqlRequestRules {
  /** Headers of which a GET needs one (CSRF prevention), lower-case. */
  csrfRequiredHeaders: readonly string[];
  /** Whether a browser asking for text/html may get the landing page. */
  landingPage: boolean;
  /** Batched operations (a JSON array body); off: BATCHING_NOT_ENABLED. */
  batching: { enabled: boolean; maxOperations: number };
}

/** Content types a browser may send cross-site without a CORS preflight. */
const SIMPLE_CONTENT_TYPES = new Set(['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data']);
const ACCEPTABLE_RESPONSE_TYPES = new Set(['*/*', 'application/*', 'application/json', 'application/graphql-response+json']);

/** `streamed`: the request asks for a streaming answer (SSE, multipart subscriptions) whose `Accept` its transport checked. */
export function checkGraphqlRequest(request: FastifyRequest, rules: GraphqlRequestRules, streamed = false): void {
  // Apollo's Fastify integration builds a URL from the Host header: one that is not a host name
  // (`Host: <script>`, an emoji) made it throw, and the client got a 500 (found by test/attack.test.ts).
  if (!URL.canParse(`${request.protocol}://${request.hostname}/`)) {
    throw new GatewayError('BAD_REQUEST', 'The Host header is not a valid host name.');
  }
  if (request.method === 'GET') {
    if (rules.landingPage && acceptsHtml(request)) return;
    if (!streamed) checkAccept(request);
    checkCsrf(request, rules);
    checkParams(request.query as Record<string, unknown> | undefined, 'query string');
    return;
  }
  if (mediaType(request.headers['content-type']) !== 'application/json') {
    throw new GatewayError('UNSUPPORTED_MEDIA_TYPE');
  }
  if (!streamed) checkAccept(request);
  const body = request.body;
  if (Array.isArray(body)) {
    checkBatch(body, rules.batching);
    return;
  }
  if (body === undefined || body === null) throw new GatewayError('MISSING_QUERY');
  if (typeof body !== 'object') throw new GatewayError('BAD_REQUEST', 'The request body must be a JSON object.');
  checkParams(body as Record<string, unknown>, 'request body');
}

/**
 * A batch is refused as a whole, before any of its operations is parsed or charged, when it is
 * empty, longer than `maxOperations`, or holds an entry that is not a well-formed operation (the
 * entry's index is in the message). Refusals of single operations (cost, budget, authorization,
 * unknown documents) are answered in their own slots by the handler.
 */
function checkBatch(body: unknown[], batching: GraphqlRequestRules['batching']): void {
  if (!batching.enabled) throw new GatewayError('BATCHING_NOT_ENABLED');
  if (body.length === 0) throw new GatewayError('BATCH_EMPTY');
  if (body.length > batching.maxOperations) {
    throw new GatewayError(
      'BATCH_TOO_LARGE',
      `The batch holds ${body.length} operations; this gateway accepts at most ${batching.maxOperations} in one request.`,
    );
  }
  body.forEach((entry, index) => {
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      throw new GatewayError('BAD_REQUEST', `Operation ${index} of the batch must be a JSON object.`);
    }
    try {
      checkParams(entry as Record<string, unknown>, 'request body');
    } catch (error) {
      if (error instanceof GatewayError) throw new GatewayError(error.code, `Operation ${index} of the batch: ${error.message}`);
      throw error;
    }
  });
}

function checkParams(params: Record<string, unknown> | undefined, where: string): void {
  const query = params?.query;
  const extensions = params?.extensions;
  const persisted =
    typeof extensions === 'object' && extensions !== null && 'persistedQuery' in extensions
      ? true
      : typeof extensions === 'string' && extensions.includes('persistedQuery');
  // A trusted document may be named by `documentId` (GraphQL-over-HTTP trusted documents proposal).
  const byId = params?.documentId !== undefined && params.documentId !== null && params.documentId !== '';
  if (query === undefined || query === null || query === '') {
    if (!persisted && !byId) throw new GatewayError('MISSING_QUERY');
  } else if (typeof query !== 'string') {
    throw new GatewayError('BAD_REQUEST', `\`query\` in the ${where} must be a string.`);
  }
  const { operationName, variables } = params ?? {};
  if (operationName !== undefined && operationName !== null && typeof operationName !== 'string') {
    throw new GatewayError('BAD_REQUEST', `\`operationName\` in the ${where} must be a string.`);
  }
  if (where === 'request body' && variables !== undefined && variables !== null) {
    if (typeof variables !== 'object' || Array.isArray(variables)) {
      throw new GatewayError('BAD_REQUEST', '`variables` must be a JSON object.');
    }
  }
  if (where === 'query string' && typeof variables === 'string' && variables !== '') {
    try {
      const parsed: unknown = JSON.parse(variables);
      if (parsed !== null && (typeof parsed !== 'object' || Array.isArray(parsed))) throw new Error('not an object');
    } catch {
      throw new GatewayError('BAD_REQUEST', '`variables` in the query string must be a JSON-encoded object.');
    }
  }
}

function checkCsrf(request: FastifyRequest, rules: GraphqlRequestRules): void {
  const contentType = mediaType(request.headers['content-type']);
  if (contentType && !SIMPLE_CONTENT_TYPES.has(contentType)) return;
  if (rules.csrfRequiredHeaders.some((header) => request.headers[header] !== undefined)) return;
  throw new GatewayError('CSRF_PREVENTED');
}

function checkAccept(request: FastifyRequest): void {
  const accept = request.headers.accept;
  if (!accept) return;
  const acceptable = accept.split(',').some((part) => {
    const [type, ...params] = part.split(';').map((s) => s.trim().toLowerCase());
    const refused = params.some((p) => /^q=0(\.0*)?$/.test(p));
    return !refused && type !== undefined && ACCEPTABLE_RESPONSE_TYPES.has(type);
  });
  if (!acceptable) throw new GatewayError('NOT_ACCEPTABLE');
}

function acceptsHtml(request: FastifyRequest): boolean {
  return (request.headers.accept ?? '').toLowerCase().includes('text/html');
}

function mediaType(header: string | undefined): string | undefined {
  return header?.split(';')[0]?.trim().toLowerCase() || undefined;
}
