import type { FastifyBaseLogger, FastifyRequest } from 'fastify';

/**
 * What the gateway learned about one request while handling it; read by logging, metrics and spans.
 *
 * This module knows no feature. A feature adds its own typed fields by declaration merging, the way
 * Fastify plugins add decorators:
 *
 * ```ts
 * declare module '../context.js' {
 *   interface RequestState { principal?: Principal | undefined }
 * }
 * ```
 *
 * Such a field is optional: the state starts with only the fields below.
 */
export interface RequestState {
  /** Epoch ms when the gateway received the request (the request deadline counts from here). */
  receivedAt: number;
  operationName?: string | undefined;
  operationType?: 'query' | 'mutation' | 'subscription' | undefined;
  /** Codes of the errors sent to the client, in order. */
  errorCodes: string[];
  /** Whether the GraphQL response carried data (partial results count). */
  hasData: boolean;
}

/** The Apollo context value: the same object for every plugin and data source of one operation. */
export interface GatewayContext {
  requestId: string;
  logger: FastifyBaseLogger;
  state: RequestState;
}

/** Whether the request's route is a probe (`/health`, `/ready`, `/metrics`): polled, exempt from load shedding, not traced. */
export function isProbe(request: FastifyRequest): boolean {
  return Boolean((request.routeOptions.config as { probe?: boolean } | undefined)?.probe);
}

/**
 * Whether the request's route takes every path and names itself once it has matched the request
 * (the REST passthrough's, so a config reload can add routes): its URL pattern says nothing.
 */
export function isCatchAll(request: FastifyRequest): boolean {
  return Boolean((request.routeOptions.config as { catchAll?: boolean } | undefined)?.catchAll);
}

const states = new WeakMap<FastifyRequest, RequestState>();
const inherited = new Set<keyof RequestState>();

/** The state of one request, created on first use; it lives exactly as long as the request object. */
export function requestState(request: FastifyRequest): RequestState {
  let state = states.get(request);
  if (!state) {
    state = { errorCodes: [], hasData: false, receivedAt: Date.now() };
    states.set(request, state);
  }
  return state;
}

/**
 * Marks a field of the state that each operation of a batch takes from its HTTP request (who is
 * calling, the request's trace), where every other field is the operation's own.
 */
export function inheritedByOperations(field: keyof RequestState): void {
  inherited.add(field);
}

export function buildContext(request: FastifyRequest): GatewayContext {
  return { requestId: request.id, logger: request.log, state: requestState(request) };
}

/**
 * The context of one operation of a batch. Apollo Server would share one context value between
 * the operations of a batch; the gateway runs each operation with its own, so that each has its
 * own cost, charge, errors and log fields. The request deadline and the inherited fields are the
 * HTTP request's.
 */
export function buildOperationContext(request: FastifyRequest): GatewayContext {
  const parent = requestState(request);
  const state: RequestState = { errorCodes: [], hasData: false, receivedAt: parent.receivedAt };
  const target = state as unknown as Record<string, unknown>;
  for (const field of inherited) target[field] = parent[field];
  return { requestId: request.id, logger: request.log, state };
}
