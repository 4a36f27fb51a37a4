import type { HeaderMap } from '@apollo/server';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FormattedExecutionResult } from 'graphql';
import { buildContext, type GatewayContext } from '../context.js';
import { GatewayError } from '../errors.js';
import { queryStringParams } from '../http/query-string-params.js';
import type { OperationParams } from '../persisted/documents.js';
import { CREDENTIALS_LOST_ERRORS, type CredentialsLost } from './credentials.js';
import { headerMapOf, type RunOutcome } from './run.js';
import type { SubscriptionProtocol } from './state.js';
import './state.js';

type HttpStreamProtocol = Exclude<SubscriptionProtocol, 'websocket'>;

export interface HttpStreamOptions {
  run(params: Record<string, unknown>, context: GatewayContext, headers: HeaderMap): Promise<RunOutcome>;
  keepAliveMs: number;
  /** Watches the request's credentials for as long as its subscription runs; returns the function that stops watching. */
  watch(request: FastifyRequest, onLost: (reason: CredentialsLost) => void): () => void;
}

/** Which streaming protocol the request asks for by its `Accept` header, if any. */
export function streamProtocol(request: FastifyRequest): HttpStreamProtocol | undefined {
  const accept = request.headers.accept ?? '';
  if (accept.includes('text/event-stream')) return 'sse';
  if (/multipart\/mixed/i.test(accept) && /subscriptionSpec/i.test(accept)) return 'multipart';
  return undefined;
}

const BOUNDARY = 'graphql';

/**
 * GraphQL over SSE (the graphql-sse protocol, distinct-connections mode: one operation per
 * request, `next` events, then `complete`) and Apollo's multipart subscriptions (`{payload}` parts
 * with boundary `graphql`, an empty `{}` part as heartbeat). The operation runs through
 * `runOperation` with the request's own context (the route's hooks authenticated it). A refused
 * operation is answered as on the plain route (its status, a JSON body); anything else streams.
 */
export async function serveHttpStream(
  request: FastifyRequest,
  reply: FastifyReply,
  protocol: HttpStreamProtocol,
  options: HttpStreamOptions,
): Promise<void> {
  if (Array.isArray(request.body)) throw new GatewayError('BAD_REQUEST', 'A streamed request carries one operation, not a batch.');
  const params =
    request.method === 'GET' ? queryStringParams(request.query, ['variables', 'extensions']) : (request.body as OperationParams);
  const context = buildContext(request);
  context.state.subscriptionProtocol = protocol;
  const outcome = await options.run(params ?? {}, context, headerMapOf(request.headers));
  if (outcome.kind === 'single' && outcome.result.errors?.length && !outcome.result.data) {
    await reply
      .code(outcome.status === 200 ? 400 : outcome.status)
      .type('application/json; charset=utf-8')
      .send(outcome.result);
    return;
  }
  void reply.hijack();
  const raw = reply.raw;
  const writer = protocol === 'sse' ? sseWriter : multipartWriter;
  raw.writeHead(200, {
    'content-type': writer.contentType,
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-request-id': request.id,
  });
  // The client learns at once that the subscription is running, not at the first event.
  raw.flushHeaders();
  if (outcome.kind === 'single') {
    raw.write(writer.next(outcome.result));
    raw.end(writer.complete());
    return;
  }
  const { session } = outcome;
  const results = session.results;
  raw.on('close', () => void results.return());
  const heartbeat = setInterval(() => raw.write(writer.heartbeat()), options.keepAliveMs);
  const stopWatching = options.watch(request, (reason) => void session.end(reason, CREDENTIALS_LOST_ERRORS[reason]));
  try {
    for await (const result of results) {
      // Backpressure: a client that does not read is not written to without limit; its events wait
      // in the session's bounded buffer, and one more ends the subscription (slow_consumer).
      if (!raw.write(writer.next(result))) await drainedOrEnded(raw, results);
    }
  } finally {
    stopWatching();
    clearInterval(heartbeat);
    if (!raw.destroyed) raw.end(writer.complete());
    // A client that reads nothing more does not keep the connection (and what it holds) for ever.
    if (results.ended === 'slow_consumer') setTimeout(() => raw.destroy(), options.keepAliveMs).unref();
  }
}

/** Resolves once the response can take more, or the subscription has ended (e.g. dropped for being too slow meanwhile). */
async function drainedOrEnded(raw: FastifyReply['raw'], results: { whenEnded(): Promise<unknown> }): Promise<void> {
  let onDrain: (() => void) | undefined;
  const drained = new Promise<void>((resolve) => {
    onDrain = () => resolve();
    raw.once('drain', onDrain);
    raw.once('close', onDrain);
  });
  try {
    await Promise.race([drained, results.whenEnded()]);
  } finally {
    if (onDrain) {
      raw.off('drain', onDrain);
      raw.off('close', onDrain);
    }
  }
}

interface StreamWriter {
  contentType: string;
  next(result: FormattedExecutionResult): string;
  heartbeat(): string;
  complete(): string;
}

const sseWriter: StreamWriter = {
  contentType: 'text/event-stream; charset=utf-8',
  next: (result) => `event: next\ndata: ${JSON.stringify(result)}\n\n`,
  heartbeat: () => ':\n\n',
  complete: () => 'event: complete\ndata:\n\n',
};

const part = (body: unknown) => `\r\n--${BOUNDARY}\r\ncontent-type: application/json; charset=utf-8\r\n\r\n${JSON.stringify(body)}`;

const multipartWriter: StreamWriter = {
  contentType: `multipart/mixed;boundary="${BOUNDARY}";subscriptionSpec="1.0"`,
  next: (result) => part({ payload: result }),
  heartbeat: () => part({}),
  complete: () => `\r\n--${BOUNDARY}--\r\n`,
};
