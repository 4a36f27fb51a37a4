import { BreakerOpenError } from './breaker.js';
import { BulkheadRejectedError } from './bulkhead.js';
import { NoReplicaAvailableError } from './replica-pool.js';

/** How a call to an upstream failed, as counted in `gateway_subgraph_requests_total{result}` and logged for REST routes. */
export type CallFailure = 'network_error' | 'timeout' | 'http_error' | 'breaker_open' | 'bulkhead_rejected' | 'no_replica';

/** A failed attempt at an upstream: the network, the timeout, or a 5xx (4xx answers are not failures). */
export class UpstreamCallError extends Error {
  override readonly name = 'UpstreamCallError';
  /**
   * No connection was made (refused, not within the connect deadline, no such host), so the request
   * never reached the upstream: safe to send again, even a mutation.
   */
  readonly notSent: boolean;
  constructor(
    readonly result: 'network_error' | 'timeout' | 'http_error',
    message: string,
    readonly status?: number,
    options?: { cause?: unknown; notSent?: boolean },
  ) {
    super(message, options);
    this.notSent = options?.notSent === true;
  }
}

/** The failure kind of anything an upstream call rejected with. */
export function callFailureOf(error: unknown): CallFailure {
  if (error instanceof UpstreamCallError) return error.result;
  if (error instanceof BreakerOpenError) return 'breaker_open';
  if (error instanceof BulkheadRejectedError) return 'bulkhead_rejected';
  if (error instanceof NoReplicaAvailableError) return 'no_replica';
  return 'network_error';
}

/** Failures that count against a breaker: the network, timeouts and 5xx. */
export function isBreakerFailure(error: unknown): boolean {
  return error instanceof UpstreamCallError;
}

/**
 * Failures a call may be retried after: connection errors and 502/503/504; not 500, and not timeouts
 * unless the request was never sent (a connect deadline: the upstream cannot have started the work).
 */
export function isRetryable(error: unknown): boolean {
  if (!(error instanceof UpstreamCallError)) return false;
  if (error.result === 'network_error' || error.notSent) return true;
  return error.result === 'http_error' && (error.status === 502 || error.status === 503 || error.status === 504);
}

/**
 * For an upstream with replicas: also a replica's open breaker (a half-open one whose probe is out),
 * since nothing ran and the retry goes to another replica.
 */
export function isRetryableOnReplicas(error: unknown): boolean {
  return isRetryable(error) || error instanceof BreakerOpenError;
}

/** For a call that must not run twice (a mutation): only failures after which nothing reached the upstream. */
export function nothingSent(error: unknown): boolean {
  return error instanceof UpstreamCallError ? error.notSent : error instanceof BreakerOpenError;
}

/**
 * Error codes of a connection that was never made (refused, not within the connect deadline, no
 * such host): undici hands them only to requests not yet written. A reset or a closed socket is not
 * among them: a kept-alive connection can fail so after the request went out.
 */
const NEVER_CONNECTED = new Set(['ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT', 'ENOTFOUND', 'EAI_AGAIN']);
/** No route to the host: only from the connect itself; the same codes on a connected socket (ICMP) may follow a sent request. */
const UNREACHABLE = new Set(['EHOSTUNREACH', 'ENETUNREACH']);

/** Whether an undici failure (or one it wraps, a few causes deep) is a connection that was never made. */
export function neverConnected(error: unknown): boolean {
  for (const current of causeChain(error)) {
    const { code, syscall } = current as { code?: string; syscall?: string };
    if (code !== undefined && (NEVER_CONNECTED.has(code) || (UNREACHABLE.has(code) && syscall === 'connect'))) return true;
  }
  return false;
}

/** `error` and the errors it wraps as `cause`, at most `depth` of them (undici and reply-from nest the reason). */
export function* causeChain(error: unknown, depth = 4): Generator<Error> {
  for (let current = error, n = 0; current instanceof Error && n < depth; n++) {
    yield current;
    current = (current as { cause?: unknown }).cause;
  }
}

/** `fetch failed: ECONNREFUSED` — the message and the cause's code, for logs (never for clients). */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as Error & { cause?: unknown }).cause;
  const causeCode = (cause as { code?: unknown } | undefined)?.code;
  const causeMessage = cause instanceof Error ? cause.message : undefined;
  return [error.message, causeCode ?? causeMessage].filter(Boolean).join(': ');
}
