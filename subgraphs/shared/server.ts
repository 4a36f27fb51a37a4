import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApolloServer, type BaseContext } from '@apollo/server';
import { ApolloServerPluginInlineTrace } from '@apollo/server/plugin/inlineTrace';
import { fastifyApolloDrainPlugin, fastifyApolloHandler } from '@as-integrations/fastify';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/index.js';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { parse } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import { subgraphSchemaPath } from './paths.js';
import { tracingFromEnv, type SubgraphTracingOptions } from './tracing-options.js';
import type { DataAccessStats } from './stats.js';
import { DEFAULT_SUBGRAPH_PORTS, portEnvVariable, type SubgraphName } from './subgraph-names.js';

export type { SubgraphName } from './subgraph-names.js';
export type { BatchStats, DataAccessStats } from './stats.js';

export interface SubgraphServer {
  name: SubgraphName;
  /** GraphQL endpoint, e.g. http://127.0.0.1:54321/graphql */
  url: string;
  /** e.g. http://127.0.0.1:54321 */
  origin: string;
  /** Counters of the data-layer batch functions; see DataAccessStats. */
  stats: DataAccessStats;
  /** Open `graphql-transport-ws` connections (always 0 for a subgraph without subscriptions). */
  webSocketConnections(): number;
  /** Stops accepting requests, drains in-flight ones and closes the port. Safe to call twice. */
  close(): Promise<void>;
}

export interface StartSubgraphOptions {
  /** @default '127.0.0.1' */
  host?: string;
  /** 0 picks a free port. @default the `<NAME>_PORT` env variable, else 4001 / 4002 / 4003 */
  port?: number;
  /** Fastify request logging. @default false */
  logger?: boolean;
  /**
   * Join the gateway's traces (OpenTelemetry, OTLP/HTTP): a server span per request under the
   * incoming `traceparent`, its root fields' resolvers as children. `false`: off.
   * @default on when `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set ({@link tracingFromEnv})
   */
  tracing?: SubgraphTracingOptions | false;
}

export interface SubgraphDefinition<TContext extends BaseContext> {
  name: SubgraphName;
  resolvers: GraphQLResolverMap<TContext>;
  stats: DataAccessStats;
  /** Builds the per-request context, including fresh DataLoaders. */
  createContext(request: FastifyRequest): TContext;
  /** Extra HTTP routes next to /graphql and /health. */
  registerRoutes?(app: FastifyInstance): void;
  /**
   * Serves subscriptions (and any operation) over WebSocket at /graphql with the
   * `graphql-transport-ws` subprotocol; the context is built from the `headers` object of the
   * connection params, else the upgrade request's headers.
   */
  subscriptions?: boolean;
  /** Runs when the server closes (e.g. stops a ticker). */
  onClose?(): void;
}

/**
 * The headers a WebSocket operation is run with: `connectionParams.headers` (the caller's identity,
 * one per connection) over the subscribe message's `extensions.headers` (a gateway sends each
 * subscription's request id there, since several share a connection) over the upgrade request's.
 */
function socketHeaders(
  connectionParams: unknown,
  extensions: unknown,
  request: IncomingMessage,
): Record<string, string | string[] | undefined> {
  return { ...request.headers, ...stringHeaders(extensions), ...stringHeaders(connectionParams) };
}

/** The string entries of `holder.headers`, names in lower case. */
function stringHeaders(holder: unknown): Record<string, string> {
  const headers = (holder as { headers?: unknown } | undefined)?.headers;
  const strings: Record<string, string> = {};
  if (headers && typeof headers === 'object') {
    for (const [name, value] of Object.entries(headers)) if (typeof value === 'string') strings[name.toLowerCase()] = value;
  }
  return strings;
}

function resolvePort(name: SubgraphName, explicitPort: number | undefined): number {
  if (explicitPort !== undefined) return explicitPort;
  const fromEnv = process.env[portEnvVariable(name)];
  if (fromEnv === undefined || fromEnv === '') return DEFAULT_SUBGRAPH_PORTS[name];
  const port = Number(fromEnv);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new Error(`${portEnvVariable(name)} must be a port number, got "${fromEnv}"`);
  }
  return port;
}

function originOf(address: AddressInfo): string {
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `http://${host}:${address.port}`;
}

/** Builds the Fastify + Apollo Server app for one subgraph and listens. */
export async function startSubgraphServer<TContext extends BaseContext>(
  definition: SubgraphDefinition<TContext>,
  options: StartSubgraphOptions = {},
): Promise<SubgraphServer> {
  const typeDefs = parse(readFileSync(subgraphSchemaPath(definition.name), 'utf8'));
  const app = Fastify({ logger: options.logger ?? false });
  const tracingOptions = options.tracing === undefined ? tracingFromEnv(definition.name) : options.tracing || undefined;
  // The SDK is loaded only when tracing is on.
  const tracing = tracingOptions
    ? (await import('./tracing.js')).createSubgraphTracing<TContext>(definition.name, tracingOptions)
    : undefined;
  const schema = buildSubgraphSchema([{ typeDefs, resolvers: definition.resolvers }]);
  const apollo = new ApolloServer<TContext>({
    schema,
    // Inline tracing (ftv1) is what Apollo adds to subgraphs anyway; naming it silences the notice.
    plugins: [fastifyApolloDrainPlugin(app), ApolloServerPluginInlineTrace(), ...(tracing ? [tracing.plugin] : [])],
    includeStacktraceInErrorResponses: false,
    introspection: true,
  });
  await apollo.start();

  app.route({
    method: ['GET', 'POST', 'OPTIONS'],
    url: '/graphql',
    handler: fastifyApolloHandler(apollo, {
      context: async (request) => definition.createContext(request),
    }),
  });
  app.get('/health', async () => ({ status: 'ok' }));
  definition.registerRoutes?.(app);
  const sockets = definition.subscriptions ? new WebSocketServer({ server: app.server, path: '/graphql' }) : undefined;
  const socketServer = sockets
    ? useServer<Record<string, unknown> | undefined, { headers?: Record<string, string | string[] | undefined> }>(
        {
          schema,
          context: (ctx, _id, payload) =>
            definition.createContext({
              headers: socketHeaders(ctx.connectionParams, payload.extensions, ctx.extra.request),
            } as FastifyRequest),
        },
        sockets,
      )
    : undefined;
  const closeSockets = async () => {
    definition.onClose?.();
    if (!sockets) return;
    // Every socket closes with 1001 (going away), as a restarting server's would.
    await socketServer?.dispose();
    await new Promise<void>((resolve) => sockets.close(() => resolve()));
  };

  try {
    await app.listen({
      host: options.host ?? '127.0.0.1',
      port: resolvePort(definition.name, options.port),
    });
  } catch (error) {
    await closeSockets();
    await apollo.stop();
    await tracing?.shutdown();
    throw error;
  }

  const origin = originOf(app.server.address() as AddressInfo);
  let closing: Promise<void> | undefined;
  return {
    name: definition.name,
    url: `${origin}/graphql`,
    origin,
    stats: definition.stats,
    webSocketConnections: () => sockets?.clients.size ?? 0,
    // apollo.stop() runs the drain plugin, which closes Fastify.
    close: () => (closing ??= closeSockets().then(() => apollo.stop().then(() => tracing?.shutdown()))),
  };
}
