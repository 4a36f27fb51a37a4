import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { buildSchema, GraphQLError, parse, type ExecutionArgs, type FormattedExecutionResult } from 'graphql';
import { handleProtocols } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import type { Logger } from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Principal } from '../auth/principal.js';
import type { GatewayContext } from '../context.js';
import type { UpgradeRouter } from '../http/upgrades.js';
import type { EndReason } from './channel.js';
import { CREDENTIALS_LOST_ERRORS, type CredentialsLost } from './credentials.js';
import type { SubscriptionSession } from './session.js';
import { headerMapOf, type RunOutcome } from './run.js';
import './state.js';

/** WebSocket close codes by why a subscription ended (graphql-ws uses 44xx for its own; 1001 is "going away"). */
export const CLOSE_CODES: Partial<Record<EndReason, { code: number; reason: string }>> = {
  slow_consumer: { code: 4413, reason: 'Slow consumer: too many events waiting' },
  token_expired: { code: 4403, reason: 'Credentials expired' },
  credentials_revoked: { code: 4403, reason: 'Credentials revoked' },
  rate_limited: { code: 4429, reason: 'Rate limited' },
  shutdown: { code: 1001, reason: 'Going away' },
};

/** How long a connection being closed for a reason waits for its subscriptions' last result (the error saying why). */
const LAST_RESULT_GRACE_MS = 1_000;

/** Close code of a connection refused because its client holds as many as its tier allows. */
export const TOO_MANY_CONNECTIONS = { code: 4429, reason: 'Too many connections' };

export interface WebSocketTransportOptions {
  path: string;
  logger: Logger;
  /** Who is calling, from the upgrade request's headers merged with the connection params' (throws when refused). */
  authenticate(headers: Record<string, string | string[] | undefined>, ip: string): Promise<Principal>;
  run(params: Record<string, unknown>, context: GatewayContext, headers: ReturnType<typeof headerMapOf>): Promise<RunOutcome>;
  /** False while the gateway cannot take new connections (starting, draining). */
  accepting(): boolean;
  /** Watches the connection's credentials (expiry, revocation); returns the function that stops watching. */
  watch(
    principal: Principal,
    headers: Record<string, string | string[] | undefined>,
    ip: string,
    onLost: (reason: CredentialsLost) => void,
  ): () => void;
  /** Takes one of the client's connection slots; undefined when it holds as many as its tier allows. Returns the release. */
  connectionSlot(principal: Principal): (() => void) | undefined;
  /** The client's address as the HTTP routes see it (`X-Forwarded-For` honoured from `server.trustedProxies` only). */
  clientIp(request: IncomingMessage): string;
}

interface Connection {
  principal: Principal;
  headers: Record<string, string | string[] | undefined>;
  sessions: Set<SubscriptionSession>;
  release(): void;
}

// graphql-ws picks `execute` or `subscribe` from the document it is handed; the real work was done in onSubscribe.
const STUB_SCHEMA = buildSchema('type Query { _: Boolean } type Subscription { _: Boolean }');
const SINGLE = parse('{ _ }');
const STREAM = parse('subscription { _ }');

interface Outcome {
  outcome: RunOutcome;
  socket: WebSocket;
  /** Takes the session off the connection's (and the server's) running subscriptions. */
  forget(session: SubscriptionSession): void;
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
  upgrades: UpgradeRouter,
  options: WebSocketTransportOptions,
): { close(): Promise<void>; readonly connections: number } {
  const sockets = new WebSocketServer({ noServer: true, handleProtocols: (protocols) => handleProtocols(protocols) });
  const principals = new WeakMap<object, Connection>();
  // Every connection's running subscriptions: on shutdown each gets its last result before the socket goes away.
  const running = new Set<SubscriptionSession>();
  // Credentials that stopped working: every subscription of the connection ends with an error, and
  // the connection closes (4403) once the first has delivered it (stream(), below), or at once when none runs.
  const lose = async (ctx: object, socket: WebSocket, reason: CredentialsLost) => {
    const sessions = [...(principals.get(ctx)?.sessions ?? [])];
    const close = CLOSE_CODES[reason] ?? { code: 4403, reason: 'Forbidden' };
    if (sessions.length === 0) return socket.close(close.code, close.reason);
    setTimeout(() => socket.close(close.code, close.reason), LAST_RESULT_GRACE_MS).unref();
    await Promise.all(sessions.map((session) => session.end(reason, CREDENTIALS_LOST_ERRORS[reason])));
  };
  const graphqlWs = useServer<Record<string, unknown> | undefined>(
    {
      onConnect: async (ctx) => {
        const headers = { ...ctx.extra.request.headers, ...paramsHeaders(ctx.connectionParams) };
        const ip = options.clientIp(ctx.extra.request);
        let principal: Principal;
        try {
          principal = await options.authenticate(headers, ip);
        } catch {
          return false;
        }
        const release = options.connectionSlot(principal);
        if (!release) {
          ctx.extra.socket.close(TOO_MANY_CONNECTIONS.code, TOO_MANY_CONNECTIONS.reason);
          return false;
        }
        const stopWatching = options.watch(principal, headers, ip, (reason) => void lose(ctx, ctx.extra.socket, reason));
        principals.set(ctx, {
          principal,
          headers,
          sessions: new Set(),
          release: () => {
            stopWatching();
            release();
          },
        });
        return true;
      },
      onClose: (ctx) => principals.get(ctx)?.release(),
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
        if (outcome.kind === 'stream') {
          caller.sessions.add(outcome.session);
          running.add(outcome.session);
          // A consumer too slow is closed at once: its socket may never drain to let the stream end in order.
          void outcome.session.results.whenEnded().then((reason) => {
            const close = reason === 'slow_consumer' ? CLOSE_CODES.slow_consumer : undefined;
            if (close) ctx.extra.socket.close(close.code, close.reason);
          });
        }
        const value: Outcome = {
          outcome,
          socket: ctx.extra.socket,
          forget: (session) => {
            caller.sessions.delete(session);
            running.delete(session);
          },
        };
        return { schema: STUB_SCHEMA, document: outcome.kind === 'stream' ? STREAM : SINGLE, contextValue: value };
      },
      execute: (args) => {
        const { outcome } = args.contextValue as Outcome;
        return (outcome.kind === 'single' ? sendable(outcome.result) : undefined) as never;
      },
      subscribe: (args) => stream(args.contextValue as Outcome) as never,
    },
    sockets,
  );
  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (!options.accepting()) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    sockets.handleUpgrade(request, socket, head, (ws) => sockets.emit('connection', ws, request));
  };
  const release = upgrades.take((pathname) => pathname === options.path, onUpgrade);
  return {
    get connections() {
      return sockets.clients.size;
    },
    async close() {
      release();
      // The subscriptions were ended with an error saying why; each is given the time to send it.
      for (const deadline = Date.now() + LAST_RESULT_GRACE_MS; running.size > 0 && Date.now() < deadline;)
        await new Promise((resolve) => setTimeout(resolve, 10));
      for (const client of sockets.clients) client.close(1001, 'Going away');
      await graphqlWs.dispose();
      await new Promise<void>((resolve) => sockets.close(() => resolve()));
    },
  };
}

/**
 * The session's results for graphql-ws. Not an async generator: graphql-ws calls `return()` when
 * the client completes the subscription or the socket closes, and a generator waiting for the next
 * event would run it only once another event came (the upstream subscription would linger). When
 * the gateway ended the session for a reason with a close code, the socket is closed with it once
 * the last result (the error saying why) was taken.
 */
function stream({ outcome, socket, forget }: Outcome): AsyncIterableIterator<FormattedExecutionResult> {
  const empty = { value: undefined, done: true } as const;
  if (outcome.kind !== 'stream')
    return {
      next: async () => empty,
      return: async () => empty,
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  const { session } = outcome;
  const results = session.results;
  const finish = () => {
    forget(session);
    const close = results.ended && CLOSE_CODES[results.ended];
    if (close) socket.close(close.code, close.reason);
  };
  return {
    async next() {
      const next = await results.next();
      if (next.done) {
        finish();
        return empty;
      }
      return { value: sendable(next.value), done: false };
    },
    async return() {
      await results.return();
      forget(session);
      return empty;
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

/**
 * graphql-ws sends each error as `error.toJSON()` (it expects GraphQLError instances); the results
 * here are already formatted, so each error is sent as it is.
 */
function sendable(result: FormattedExecutionResult): FormattedExecutionResult {
  if (!result.errors?.length) return result;
  return { ...result, errors: result.errors.map((error) => ({ ...error, toJSON: () => error })) };
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
