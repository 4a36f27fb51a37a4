import type { FastifyBaseLogger, FastifyRequest } from 'fastify';
import type { FallbackUse } from './subgraph/resilient-call.js';

/** What the gateway learned about one request while handling it; read by logging and metrics. */
export interface RequestState {
  operationName?: string | undefined;
  operationType?: 'query' | 'mutation' | 'subscription' | undefined;
  /** Codes of the GraphQL errors sent to the client, in order. */
  errorCodes: string[];
  /** Whether the GraphQL response carried data (partial results count). */
  hasData: boolean;
  /** Epoch ms when the gateway received the request (the request deadline counts from here). */
  receivedAt: number;
  /** Fallbacks that stood in for failed subgraph calls, reported in `extensions.fallbacks`. */
  fallbacks: FallbackUse[];
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
