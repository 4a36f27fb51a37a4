import type { FastifyBaseLogger, FastifyRequest } from 'fastify';
import type { Principal } from './auth/principal.js';
import type { RequestTrace } from './observability/request-trace.js';

export type FallbackSource = 'cache' | 'static';

/** One fallback a response used (a subgraph call answered from a kept or static copy), as reported in `extensions.fallbacks`. */
export interface FallbackUse {
  subgraph: string;
  source: FallbackSource;
  /** Seconds since the cached copy was stored; null for static fallbacks. */
  age: number | null;
}

/** What the gateway learned about one request while handling it; read by logging and metrics. */
export interface RequestState {
  /** Who is calling; set by the auth hook before any GraphQL or REST work, read by every later plugin. */
  principal?: Principal | undefined;
  operationName?: string | undefined;
  operationType?: 'query' | 'mutation' | 'subscription' | undefined;
  /** Codes of the GraphQL errors sent to the client, in order. */
  errorCodes: string[];
  /** Whether the GraphQL response carried data (partial results count). */
  hasData: boolean;
  /** Cost in points: set by the cost plugin when it estimated the operation, `actual` once it ran. */
  cost?: { estimated: number; actual?: number | undefined } | undefined;
  /** Epoch ms when the gateway received the request (the request deadline counts from here). */
  receivedAt: number;
  /** Fallbacks that stood in for failed subgraph calls, reported in `extensions.fallbacks`. */
  fallbacks: FallbackUse[];
  /** Set by the REST passthrough: the route (its prefix), the upstream's status and how it was answered. */
  rest?: RestRequestInfo | undefined;
  /** The budget's answer to this request's charge (GraphQL or REST); absent when nothing was charged. */
  rateLimit?: { result: 'allowed' | 'limited' | 'unavailable'; remaining?: number | undefined } | undefined;
  /** The request's span and trace context; absent when tracing is off (or for probes). */
  trace?: RequestTrace | undefined;
  /**
   * Set on the HTTP request's state when it carried a batch: one entry per operation, in order,
   * each with a state of its own (the state the plugins of that operation wrote).
   */
  batch?: BatchOperation[] | undefined;
  /** Id of the trusted document (manifest entry) that served this operation. */
  trustedDocumentId?: string | undefined;
}

/** One operation of a batched request. */
export interface BatchOperation {
  state: RequestState;
  /** The HTTP status Apollo chose for this operation alone (the batch itself answers 200). */
  status: number;
  durationMs: number;
}

export interface RestRequestInfo {
  route: string;
  /** Status the upstream answered with (absent: no upstream answer). */
  upstreamStatus?: number | undefined;
  /** Upstream attempts made (retries included); 0 when none was made. */
  attempts: number;
  /** `cache` when the answer is a kept copy served because the upstream failed. */
  fallback?: 'cache' | undefined;
  /** Why the upstream call failed, for the log (never sent to the client). */
  failure?: string | undefined;
}

/** The Apollo context value: the same object for every plugin and data source of one request. */
export interface GatewayContext {
  requestId: string;
  logger: FastifyBaseLogger;
  state: RequestState;
}

const states = new WeakMap<FastifyRequest, RequestState>();

/** The state of one request, created on first use; it lives exactly as long as the request object. */
export function requestState(request: FastifyRequest): RequestState {
  let state = states.get(request);
  if (!state) {
    state = { errorCodes: [], hasData: false, receivedAt: Date.now(), fallbacks: [] };
    states.set(request, state);
  }
  return state;
}

export function buildContext(request: FastifyRequest): GatewayContext {
  return { requestId: request.id, logger: request.log, state: requestState(request) };
}

/**
 * The context of one operation of a batch. Apollo Server would share one context value between
 * the operations of a batch; the gateway runs each operation with its own, so that each has its
 * own cost, charge, errors and log fields. The caller and the request deadline are the HTTP
 * request's.
 */
export function buildOperationContext(request: FastifyRequest): GatewayContext {
  const parent = requestState(request);
  // The trace is the HTTP request's: each operation's spans are children of the request span.
  const state: RequestState = { principal: parent.principal, errorCodes: [], hasData: false, receivedAt: parent.receivedAt, fallbacks: [], trace: parent.trace };
  return { requestId: request.id, logger: request.log, state };
}
