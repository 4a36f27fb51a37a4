import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { SpanKind, type Span } from '@opentelemetry/api';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { RequestState } from '../context.js';
import type { RestRequestInfo } from './state.js';
import { failSpan } from '../observability/request-trace.js';
import type { BreakerState } from '../upstream/breaker.js';
import { callFailureOf, UpstreamCallError } from '../upstream/call-error.js';
import { BodyTooLargeError } from './body-limit.js';
import { clientResponseHeaders, upstreamRequestHeaders, type ForwardHeaderOptions } from './headers.js';
import { RouteTimeoutError, timeoutPhaseOf, withAttemptTimeouts, type ResponseDeadline, type RouteTimeouts } from './timeouts.js';
import { splitTarget } from './path.js';

/** An upstream answer whose body has not been read: it is streamed to the client. */
export interface UpstreamAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  stream: Readable;
}

/** A 5xx from the upstream: a failure for breaker and retries, yet an answer that can be passed on. */
export class UpstreamErrorAnswer extends UpstreamCallError {
  constructor(readonly answer: UpstreamAnswer) {
    super('http_error', `HTTP ${answer.status}`, answer.status);
  }
}

/** The client went away before the upstream answered: not the upstream's fault, nothing to send. */
export class ClientGoneError extends Error {}

/** What the attempts of one proxied request need to know about it. */
export interface ProxiedRequest {
  request: FastifyRequest;
  reply: FastifyReply;
  /** The route's prefix (span attribute). */
  prefix: string;
  /** The route's deadlines (connect, first byte) and the request's whole-response deadline. */
  timeouts: RouteTimeouts;
  deadline: ResponseDeadline;
  /** The upstream path and query (already checked, see path.ts). */
  target: string;
  state: RequestState;
  info: RestRequestInfo;
  headerOptions: ForwardHeaderOptions;
  /** The request's body ran past the route's limit (the failure is then the client's). */
  bodyCut(): boolean;
  /** The route's own breaker's state now; undefined with replicas (each has its own) or without breakers. */
  breakerState(): BreakerState | undefined;
  /** The origin the last attempt went to (a replica's, with several). */
  origin?: string | undefined;
  /** The route's request header transforms, applied to the client's headers before the gateway sets its own. */
  transformHeaders?: ((headers: IncomingHttpHeaders) => IncomingHttpHeaders) | undefined;
}

/**
 * One attempt at `upstreamOrigin` (a replica's, when the route has several). Traced: the attempt is
 * a client span `gateway.rest.attempt` (until the upstream's response headers, or its failure), and
 * the upstream gets that span's traceparent.
 */
export async function proxyAttempt(call: ProxiedRequest, upstreamOrigin: string): Promise<UpstreamAnswer> {
  call.origin = upstreamOrigin;
  const trace = call.state.trace;
  if (!trace) return proxyOnce(call, upstreamOrigin, undefined);
  const upstreamUrl = new URL(upstreamOrigin);
  const breaker = call.breakerState();
  const span = trace.startSpan(
    'gateway.rest.attempt',
    {
      'gateway.rest.route': call.prefix,
      'gateway.attempt': call.info.attempts + 1,
      ...(breaker ? { 'gateway.breaker.state': breaker } : {}),
      'http.request.method': call.request.method,
      'server.address': upstreamUrl.hostname,
      'server.port': Number(upstreamUrl.port || (upstreamUrl.protocol === 'https:' ? 443 : 80)),
      'url.path': call.target.split('?')[0] ?? call.target,
    },
    SpanKind.CLIENT,
  );
  try {
    const answer = await proxyOnce(call, upstreamOrigin, span);
    span.setAttribute('http.response.status_code', answer.status);
    return answer;
  } catch (error) {
    if (error instanceof UpstreamErrorAnswer) span.setAttribute('http.response.status_code', error.answer.status);
    failSpan(
      span,
      error instanceof ClientGoneError ? 'client_gone' : callFailureOf(error),
      error instanceof Error ? error.message : String(error),
    );
    throw error;
  } finally {
    span.end();
  }
}

/** One upstream call through `@fastify/reply-from`; `span`: the attempt's span, whose traceparent goes out with it. */
function proxyOnce(call: ProxiedRequest, upstreamOrigin: string, span: Span | undefined): Promise<UpstreamAnswer> {
  const { reply, state, info } = call;
  const principal = state.principal;
  return new Promise<UpstreamAnswer>((resolve, reject) => {
    info.attempts++;
    let abandoned = false;
    const gone = () => {
      if (reply.raw.writableFinished) return;
      abandoned = true;
      reject(new ClientGoneError('client closed the connection'));
    };
    reply.raw.once('close', gone);
    const settle = () => reply.raw.off('close', gone);
    const attempt = { connectMs: call.timeouts.connectMs, firstByteMs: call.timeouts.firstByteMs, signal: call.deadline.signal };
    // The query goes as it is, beside the path: reply-from would decode it with the path (refusing
    // `?next=../cart` or `?q=50%`) and, when it is empty, send the client's original one instead.
    const { path, query } = splitTarget(call.target);
    withAttemptTimeouts(attempt, () =>
      reply.from(upstreamOrigin + path, {
        queryString: () => query.slice(1),
        retryDelay: () => null,
        rewriteRequestHeaders: (req, headers) => {
          const incoming = call.transformHeaders ? call.transformHeaders(headers as IncomingHttpHeaders) : (headers as IncomingHttpHeaders);
          const forwarded = upstreamRequestHeaders(req as FastifyRequest, incoming, principal, call.headerOptions);
          // Traced: the upstream continues from this attempt's span, whatever the client sent.
          if (span && state.trace) state.trace.inject(span, forwarded);
          return forwarded as IncomingHttpHeaders;
        },
        // Headers are copied when the answer is sent (a retry or a fallback must not inherit them).
        rewriteHeaders: () => ({}),
        onResponse: (_req, _reply, raw) => {
          settle();
          // reply-from hands over undici's answer: statusCode, headers and the body stream.
          const res = raw as unknown as { statusCode: number; headers: IncomingHttpHeaders; stream: Readable };
          const answer: UpstreamAnswer = { status: res.statusCode, headers: res.headers, stream: res.stream };
          // Nobody will read it (the client left while it was on its way): free the upstream connection.
          if (abandoned) return void discardStream(answer.stream);
          if (answer.status >= 500) reject(new UpstreamErrorAnswer(answer));
          else resolve(answer);
        },
        onError: (_reply, { error }) => {
          settle();
          reject(call.bodyCut() ? new BodyTooLargeError('request body over the route limit') : callErrorOf(error));
        },
      }),
    );
  });
}

/** Streams an upstream answer to the client: its status, its headers without hop-by-hop ones, its body. */
export function sendAnswer(reply: FastifyReply, answer: UpstreamAnswer): FastifyReply {
  return reply.code(answer.status).headers(clientResponseHeaders(answer.headers, reply.request)).send(answer.stream);
}

/** Drops the unread body of an upstream answer that will not be sent (a retried or replaced 5xx). */
export function discardAnswer(error: unknown): void {
  if (error instanceof UpstreamErrorAnswer) discardStream(error.answer.stream);
}

function discardStream(stream: Readable): void {
  stream.on('error', () => undefined);
  stream.destroy();
}

/** reply-from's error, as the failure kinds the breaker and retries know. */
function callErrorOf(error: Error): UpstreamCallError {
  const cause = (error as { cause?: unknown }).cause ?? error;
  if (cause instanceof RouteTimeoutError) return cause;
  const phase = timeoutPhaseOf(error);
  if (phase) return new RouteTimeoutError(phase, error.message, { cause });
  const message = cause instanceof Error ? cause.message : error.message;
  return new UpstreamCallError('network_error', message, undefined, { cause });
}
