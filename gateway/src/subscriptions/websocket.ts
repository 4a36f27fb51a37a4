import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { buildSchema, GraphQLError, parse, type ExecutionArgs, type FormattedExecutionResult } from 'graphql';
import { handleProtocols } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import type { Logger } from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Principal } from '../auth/principal.js';
import type { GatewayContext } from '../context.js';
import type { EndReason } from './channel.js';
import { headerMapOf, type RunOutcome } from './run.js';
import './state.js';

/** WebSocket close codes by why a subscription ended (graphql-ws uses 44xx for its own; 1001 is "going away"). */
export const CLOSE_CODES: Partial<Record<EndReason, { code: number; reason: string }>> = {
  slow_consumer: { code: 4429, reason: 'Slow consumer: too many events waiting' },
  token_expired: { code: 4403, reason: 'Credentials expired' },
  rate_limited: { code: 4429, reason: 'Rate limited' },
  shutdown: { code: 1001, reason: 'Going away' },
};

export interface WebSocketTransportOptions {
  path: string;
  logger: Logger;
  /** Who is calling, from the upgrade request's headers merged with the connection params' (throws when refused). */
  authenticate(headers: Record<string, string | string[] | undefined>, ip: string): Promise<Principal>;
  run(params: Record<string, unknown>, context: GatewayContext, headers: ReturnType<typeof headerMapOf>): Promise<RunOutcome>;
  /** False while the gateway cannot take new connections (starting, draining). */
  accepting(): boolean;
}

// graphql-ws picks `execute` or `subscribe` from the document it is handed; the real work was done in onSubscribe.
const STUB_SCHEMA = buildSchema('type Query { _: Boolean } type Subscription { _: Boolean }');
const SINGLE = parse('{ _ }');
const STREAM = parse('subscription { _ }');

interface Outcome {
  outcome: RunOutcome;
  socket: WebSocket;
}

/**
 * GraphQL over WebSocket (`graphql-transport-ws`, the graphql-ws library's server) at the GraphQL
 * path: the caller is authenticated at `connection_init` from the upgrade request's headers and the
 * connection params (`{ authorization }`, `{ headers: { ... } }`); refused: close 4403. Every
 * operation, queries and mutations too, runs through `runOperation` (trusted documents, Apollo and
 * its plugins); a refused subscription is the protocol's `error` message. A subscription ended by
 * the gateway closes the socket with a code from {@link CLOSE_CODES}.
 */
export function serveWebSocket(
  server: Server,
  options: WebSocketTransportOptions,
): { close(): Promise<void>; readonly connections: number } {
  const sockets = new WebSocketServer({ noServer: true, handleProtocols: (protocols) => handleProtocols(protocols) });
  const principals = new WeakMap<object, { principal: Principal; headers: Record<string, string | string[] | undefined> }>();
  const graphqlWs = useServer<Record<string, unknown> | undefined>(
    {
      onConnect: async (ctx) => {
        const headers = { ...ctx.extra.request.headers, ...paramsHeaders(ctx.connectionParams) };
        try {
          principals.set(ctx, { principal: await options.authenticate(headers, ctx.extra.request.socket.remoteAddress ?? ''), headers });
          return true;
        } catch {
          return false;
        }
      },
      onSubscribe: async (ctx, _id, payload): Promise<ExecutionArgs | readonly GraphQLError[]> => {
        const caller = principals.get(ctx);
        if (!caller) return [new GraphQLError('Not authenticated.', { extensions: { code: 'UNAUTHENTICATED' } })];
        const context: GatewayContext = {
          requestId: randomUUID(),
          logger: options.logger as unknown as GatewayContext['logger'],
          state: { receivedAt: Date.now(), errorCodes: [], hasData: false, principal: caller.principal, subscriptionProtocol: 'websocket' },
        };
        const outcome = await options.run(payload as unknown as Record<string, unknown>, context, headerMapOf(caller.headers));
        if (outcome.kind === 'single' && outcome.result.errors?.length && !outcome.result.data) {
          return outcome.result.errors.map((error) => new GraphQLError(error.message, { path: error.path, extensions: error.extensions }));
        }
        const value: Outcome = { outcome, socket: ctx.extra.socket };
        return { schema: STUB_SCHEMA, document: outcome.kind === 'stream' ? STREAM : SINGLE, contextValue: value };
      },
      execute: (args) =>
        (args.contextValue as Outcome).outcome.kind === 'single'
          ? (((args.contextValue as Outcome).outcome as { result: FormattedExecutionResult }).result as never)
          : (undefined as never),
      subscribe: (args) => stream(args.contextValue as Outcome) as never,
    },
    sockets,
  );
  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (new URL(request.url ?? '/', 'http://gateway').pathname !== options.path) return;
    if (!options.accepting()) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    sockets.handleUpgrade(request, socket, head, (ws) => sockets.emit('connection', ws, request));
  };
  server.on('upgrade', onUpgrade);
  return {
    get connections() {
      return sockets.clients.size;
    },
    async close() {
      server.off('upgrade', onUpgrade);
      for (const client of sockets.clients) client.close(1001, 'Going away');
      await graphqlWs.dispose();
      await new Promise<void>((resolve) => sockets.close(() => resolve()));
    },
  };
}

/** The session's results; when the gateway ended it for a reason with a close code, the socket is closed with it. */
async function* stream({ outcome, socket }: Outcome): AsyncGenerator<FormattedExecutionResult> {
  if (outcome.kind !== 'stream') return;
  const results = outcome.session.results;
  try {
    for await (const result of results) yield result;
  } finally {
    const close = results.ended && CLOSE_CODES[results.ended];
    if (close) socket.close(close.code, close.reason);
  }
}

/** Credentials sent in the connection params: `{ headers: {...} }` and any top-level string values, by lower-cased name. */
function paramsHeaders(params: Record<string, unknown> | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  if (!params) return headers;
  const nested = params['headers'];
  for (const source of [params, nested && typeof nested === 'object' ? (nested as Record<string, unknown>) : {}]) {
    for (const [name, value] of Object.entries(source)) if (typeof value === 'string') headers[name.toLowerCase()] = value;
  }
  return headers;
}
