import type { HeaderMap } from '@apollo/server';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FormattedExecutionResult } from 'graphql';
import { buildContext, type GatewayContext } from '../context.js';
import { GatewayError } from '../errors.js';
import { headerMapOf, type RunOutcome } from './run.js';
import type { SubscriptionProtocol } from './state.js';
import './state.js';

type HttpStreamProtocol = Exclude<SubscriptionProtocol, 'websocket'>;

export interface HttpStreamOptions {
  run(params: Record<string, unknown>, context: GatewayContext, headers: HeaderMap): Promise<RunOutcome>;
  keepAliveMs: number;
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
  const params = (request.method === 'GET' ? request.query : request.body) as Record<string, unknown> | undefined;
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
  const results = outcome.session.results;
  raw.on('close', () => void results.return());
  const heartbeat = setInterval(() => raw.write(writer.heartbeat()), options.keepAliveMs);
  try {
    for await (const result of results) raw.write(writer.next(result));
  } finally {
    clearInterval(heartbeat);
    if (!raw.destroyed) raw.end(writer.complete());
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
