/**
 * The error registry: every code a client can receive from the gateway, its HTTP status and the
 * message it carries. GraphQL responses put the code in `errors[].extensions.code`; REST-style
 * routes answer `{error, message, request_id}`. The README's error table is generated from this
 * object (`npm run docs`) and a test keeps the two in sync.
 *
 * Codes marked `source: 'apollo'` are produced by Apollo Server itself; they are listed so clients
 * can rely on them, and the gateway does not re-map them.
 */
export interface ErrorSpec {
  status: number;
  message: string;
  source: 'gateway' | 'apollo';
}

export const ERRORS = {
  BAD_REQUEST: {
    status: 400,
    message: 'The request is not a valid GraphQL-over-HTTP request.',
    source: 'gateway',
  },
  MALFORMED_JSON: { status: 400, message: 'The request body is not valid JSON.', source: 'gateway' },
  BODY_DECODING_FAILED: {
    status: 400,
    message: 'The request body could not be decompressed with the coding its `Content-Encoding` names.',
    source: 'gateway',
  },
  DUPLICATE_HEADER: {
    status: 400,
    message: 'A header that must appear once (`Authorization`, the API key header, `Host`, `Content-Type`) appears more than once.',
    source: 'gateway',
  },
  MISSING_QUERY: {
    status: 400,
    message: 'The request has no GraphQL document: send a non-empty `query`.',
    source: 'gateway',
  },
  BATCHING_NOT_ENABLED: {
    status: 400,
    message: 'Batched operations (a JSON array body) are not enabled on this gateway.',
    source: 'gateway',
  },
  CSRF_PREVENTED: {
    status: 400,
    message:
      'This request has been blocked as a potential cross-site request forgery: send it with a `content-type: application/json` POST, or add one of the preflight headers.',
    source: 'gateway',
  },
  GRAPHQL_PARSE_FAILED: { status: 400, message: 'The GraphQL document could not be parsed.', source: 'apollo' },
  GRAPHQL_VALIDATION_FAILED: {
    status: 400,
    message: 'The GraphQL document is not valid against the schema.',
    source: 'apollo',
  },
  BAD_USER_INPUT: { status: 400, message: 'A variable or argument has an invalid value.', source: 'apollo' },
  OPERATION_RESOLUTION_FAILURE: {
    status: 400,
    message: 'The operation to run could not be determined (unknown or missing `operationName`).',
    source: 'gateway',
  },
  BATCH_EMPTY: { status: 400, message: 'The batch (a JSON array body) holds no operation.', source: 'gateway' },
  BATCH_TOO_LARGE: {
    status: 400,
    message: 'The batch holds more operations than the gateway accepts in one request (`graphql.batching.maxOperations`).',
    source: 'gateway',
  },
  PERSISTED_QUERY_NOT_FOUND: {
    status: 200,
    message: 'The persisted query hash is unknown: send the full query once.',
    source: 'gateway',
  },
  PERSISTED_QUERY_NOT_SUPPORTED: {
    status: 400,
    message: 'Automatic persisted queries are not enabled on this gateway: send the full query.',
    source: 'gateway',
  },
  PERSISTED_QUERY_HASH_MISMATCH: {
    status: 400,
    message: 'The SHA-256 hash sent does not match the query sent.',
    source: 'gateway',
  },
  PERSISTED_QUERY_NOT_IN_LIST: {
    status: 400,
    message: 'This gateway runs only trusted documents, and this document is not in its list.',
    source: 'gateway',
  },
  PERSISTED_QUERY_ID_REQUIRED: {
    status: 400,
    message: 'This gateway runs trusted documents by id only: send `documentId` (or the persisted-query hash) instead of the query.',
    source: 'gateway',
  },
  COST_ESTIMATED_TOO_EXPENSIVE: {
    status: 400,
    message:
      'The estimated cost of this operation is above the most your tier allows for one operation; `extensions.cost` has both figures.',
    source: 'gateway',
  },
  LIST_SIZE_TOO_LARGE: {
    status: 400,
    message: 'A slicing argument (e.g. `first`) asks for more items than the field allows.',
    source: 'gateway',
  },
  SLICING_ARGUMENT_REQUIRED: {
    status: 400,
    message: 'A list field needs exactly one of its slicing arguments (e.g. `first`).',
    source: 'gateway',
  },
  TOO_MANY_TOKENS: {
    status: 400,
    message: 'The GraphQL document has more tokens than the gateway parses (`graphql.maxTokens`); parsing was aborted.',
    source: 'gateway',
  },
  TOO_MANY_DIRECTIVES: {
    status: 400,
    message: 'The GraphQL document uses more directives than the gateway allows (`graphql.maxDirectives`).',
    source: 'gateway',
  },
  MAX_DEPTH_EXCEEDED: { status: 400, message: 'The operation nests fields deeper than your tier allows.', source: 'gateway' },
  MAX_ALIASES_EXCEEDED: { status: 400, message: 'The operation uses more aliases than your tier allows.', source: 'gateway' },
  MAX_ROOT_FIELDS_EXCEEDED: {
    status: 400,
    message: 'The operation selects more root fields than your tier allows.',
    source: 'gateway',
  },
  UNAUTHENTICATED: {
    status: 401,
    message: 'The request has no valid credential: send `Authorization: Bearer <JWT>` or an API key.',
    source: 'gateway',
  },
  FORBIDDEN: {
    status: 403,
    message: 'The caller may not run this operation: it asks for nothing the caller is allowed to see.',
    source: 'gateway',
  },
  INTROSPECTION_DISABLED: {
    status: 403,
    message: 'Introspection (`__schema`, `__type`) is not allowed for this caller.',
    source: 'gateway',
  },
  UNAUTHORIZED_FIELD_OR_TYPE: {
    status: 200,
    message:
      'A field the caller may not see (`@authenticated` or `@requiresScopes`) was removed from the operation and is null; the rest of the data is returned.',
    source: 'gateway',
  },
  ADMIN_UNAUTHENTICATED: {
    status: 401,
    message: 'The admin API needs `Authorization: Bearer <admin token>` with a token from `admin.tokens`.',
    source: 'gateway',
  },
  ADMIN_FORBIDDEN: {
    status: 403,
    message: 'This admin token may read but not change anything (`access: read`).',
    source: 'gateway',
  },
  ADMIN_INVALID_REQUEST: {
    status: 400,
    message: 'The admin request is not valid: see the message for the field.',
    source: 'gateway',
  },
  ADMIN_NOT_AVAILABLE: {
    status: 409,
    message: 'This admin action needs a capability that is off in this gateway (rate limits, or resilience for breakers and caches).',
    source: 'gateway',
  },
  BREAKER_NOT_FOUND: {
    status: 404,
    message:
      'No circuit breaker has this name (a subgraph, a replica `<subgraph>@<url>` or a REST route): `GET /admin/breakers` lists them.',
    source: 'gateway',
  },
  BREAKER_PIN_NOT_SHARED: {
    status: 503,
    message: 'The breaker was pinned on this instance, but Redis did not take it: the other instances do not know. Retry.',
    source: 'gateway',
  },
  PURGE_SCOPE_UNSUPPORTED: {
    status: 400,
    message: 'No cache of this gateway can purge by type or key (the fallback cache purges everything or one subgraph).',
    source: 'gateway',
  },
  SUPERGRAPH_RELOAD_FAILED: {
    status: 422,
    message: 'The supergraph could not be reloaded; the previous one keeps serving.',
    source: 'gateway',
  },
  CONFIG_RELOAD_INVALID: {
    status: 422,
    message: 'The config file cannot be read or does not validate; nothing was applied and the running config keeps serving.',
    source: 'gateway',
  },
  CONFIG_RESTART_REQUIRED: {
    status: 409,
    message: 'The new config changes keys that only a restart applies (named in the message); nothing of it was applied.',
    source: 'gateway',
  },
  CONFIG_RELOAD_FAILED: {
    status: 422,
    message: 'A part of the gateway could not prepare the new config (named in the message); nothing was applied.',
    source: 'gateway',
  },
  INVALID_PATH: {
    status: 400,
    message:
      'The path holds a sequence the gateway does not forward (`.` or `..` segments, encoded `/`, `\\` or `.`, `%25`, empty segments or bad percent-encoding).',
    source: 'gateway',
  },
  NOT_FOUND: { status: 404, message: 'No route matches this path.', source: 'gateway' },
  METHOD_NOT_ALLOWED: { status: 405, message: 'This method is not allowed on this path.', source: 'gateway' },
  NOT_ACCEPTABLE: {
    status: 406,
    message: 'The Accept header allows neither application/graphql-response+json nor application/json.',
    source: 'gateway',
  },
  REQUEST_TIMEOUT: {
    status: 408,
    message:
      'The request did not arrive in time (headers within `server.headersTimeoutMs`, the whole request within ' +
      '`server.requestTimeoutMs`, the body at `server.minBodyRateBytesPerSecond` or faster); the connection is closed.',
    source: 'gateway',
  },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'The request body is larger than the gateway accepts.', source: 'gateway' },
  UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    message: 'POST bodies must be `content-type: application/json` in UTF-8 (no other `charset`).',
    source: 'gateway',
  },
  UNSUPPORTED_CONTENT_ENCODING: {
    status: 415,
    message: "The request body's `Content-Encoding` is not one the gateway decompresses: send `gzip`, `deflate`, `br` or none.",
    source: 'gateway',
  },
  EXPECTATION_FAILED: {
    status: 417,
    message: 'The `Expect` header asks for something other than `100-continue`, the only expectation the gateway meets.',
    source: 'gateway',
  },
  RATE_LIMITED: {
    status: 429,
    message: 'Your budget of cost points is spent: retry after the number of seconds in `Retry-After`.',
    source: 'gateway',
  },
  HEADERS_TOO_LARGE: {
    status: 431,
    message: 'The request line and headers are larger than the gateway accepts (`server.maxHeaderBytes`); the connection is closed.',
    source: 'gateway',
  },
  INTERNAL_SERVER_ERROR: {
    status: 500,
    message: 'The gateway failed to handle this request; the log has details under the request id.',
    source: 'gateway',
  },
  SUBGRAPH_UNAVAILABLE: {
    status: 200,
    message: 'A subgraph could not be reached or answered with an HTTP error; its part of the data is null and the rest is returned.',
    source: 'gateway',
  },
  UPSTREAM_BAD_RESPONSE: {
    status: 502,
    message: 'The upstream service of this route could not be reached or sent an invalid answer; the log has details under the request id.',
    source: 'gateway',
  },
  UPSTREAM_UNAVAILABLE: {
    status: 503,
    message:
      'The upstream service of this route is failing (circuit breaker open or too many requests in flight) and no cached answer exists; retry later.',
    source: 'gateway',
  },
  UPSTREAM_TIMEOUT: {
    status: 504,
    message: 'The upstream service of this route did not answer in time.',
    source: 'gateway',
  },
  UPSTREAM_CONNECT_TIMEOUT: {
    status: 504,
    message: 'The upstream service of this route could not be connected to in time.',
    source: 'gateway',
  },
  UPSTREAM_RESPONSE_TIMEOUT: {
    status: 504,
    message: 'The upstream service of this route did not send its whole answer in time.',
    source: 'gateway',
  },
  SUPERGRAPH_SOURCE_UNAVAILABLE: {
    status: 503,
    message:
      'At start, the remote supergraph source (`url` or `uplink`) failed and there is no last good copy in `supergraph.cacheFile`: the gateway does not start.',
    source: 'gateway',
  },
  SUPERGRAPH_NOT_LOADED: { status: 503, message: 'The gateway has not loaded a supergraph yet.', source: 'gateway' },
  AUTH_UNAVAILABLE: {
    status: 503,
    message: 'The credential could not be checked right now (key server or key store unreachable); retry later.',
    source: 'gateway',
  },
  RATE_LIMIT_UNAVAILABLE: {
    status: 503,
    message: 'The rate-limit store is unreachable and this gateway is configured to fail closed; retry later.',
    source: 'gateway',
  },
  OVERLOADED: {
    status: 503,
    message:
      'The gateway has as many requests in flight as it accepts (`server.maxInFlightRequests`); retry after the number of seconds in `Retry-After`.',
    source: 'gateway',
  },
  SHUTTING_DOWN: { status: 503, message: 'The gateway is shutting down; retry on another instance.', source: 'gateway' },
  SUBSCRIPTION_TRANSPORT_REQUIRED: {
    status: 400,
    message:
      'A subscription needs a streaming transport: WebSocket (`graphql-transport-ws`), Server-Sent Events (`Accept: text/event-stream`) or multipart (`Accept: multipart/mixed;subscriptionSpec=1.0`).',
    source: 'gateway',
  },
  SUBSCRIPTION_LIMIT_EXCEEDED: {
    status: 429,
    message:
      'The client already runs as many subscriptions on this gateway as its tier allows (`subscriptions.perClient`, `subscriptions.tiers`); end one before starting another.',
    source: 'gateway',
  },
  SUBSCRIPTION_SCHEMA_CHANGED: {
    status: 200,
    message: 'The supergraph changed and this subscription no longer plans the same way; subscribe again.',
    source: 'gateway',
  },
  SUBSCRIPTION_SLOW_CONSUMER: {
    status: 200,
    message:
      'The client did not read the events of this subscription fast enough (`subscriptions.bufferSize` waiting); the subscription has ended.',
    source: 'gateway',
  },
  SUBSCRIPTION_UPSTREAM_FAILED: {
    status: 200,
    message: 'The subgraph that serves this subscription could not be reached (after the configured retries); the subscription has ended.',
    source: 'gateway',
  },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

export function errorSpec(code: ErrorCode): ErrorSpec {
  return ERRORS[code];
}

/** A gateway error with a registered code; thrown by HTTP-layer checks, rendered by the server's error handler. */
export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Response headers that belong to this error, e.g. `WWW-Authenticate` on a 401. */
  readonly headers: Readonly<Record<string, string>>;

  constructor(code: ErrorCode, message?: string, headers: Record<string, string> = {}) {
    super(message ?? ERRORS[code].message);
    this.name = 'GatewayError';
    this.code = code;
    this.status = ERRORS[code].status;
    this.headers = headers;
  }
}

/** Body of an error answered on the GraphQL endpoint (GraphQL over HTTP: a response with only `errors`). */
export function graphqlErrorBody(code: ErrorCode, message: string = ERRORS[code].message) {
  return { errors: [{ message, extensions: { code } }] };
}

/** Body of an error answered on any other route. */
export function restErrorBody(code: ErrorCode, requestId: string, message: string = ERRORS[code].message) {
  return { error: code, message, request_id: requestId };
}
