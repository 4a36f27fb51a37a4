import fastifyCors, { type FastifyCorsOptions } from '@fastify/cors';
import type { FastifyBaseLogger } from 'fastify';
import type { ServerConfig } from './config.js';
import { createHttpEdge, type HttpEdge } from './edge.js';
import { isProbe } from '../context.js';
import { GatewayError } from '../errors.js';
import { RestartRequiredError, type Feature, type GatewayPhase } from '../feature.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import { useInFlightLimit } from './in-flight-limit.js';
import { createUpgradeRouter, type UpgradeRouter } from './upgrades.js';

/**
 * The edge every request passes first: its request id on the answer, refusal while draining, load
 * shedding over the in-flight cap, the HTTP edge's checks (http/edge.ts), and CORS.
 */
declare module '../feature.js' {
  interface FeatureServices {
    /** How the gateway answers hostile or malformed HTTP; the root hands its client-error handler to the server. */
    httpEdge: HttpEdge;
    /** The server's one `upgrade` listener: features take the paths they own; other upgrades get a plain answer. */
    upgrades: UpgradeRouter;
  }
}

type EdgeConfig = { server: ServerConfig; graphql: { path: string }; auth: { apiKeys: { header: string } } };

export const edgeFeature: Feature<EdgeConfig, { logger: FastifyBaseLogger; metrics: GatewayMetrics; phase: () => GatewayPhase }> = {
  name: 'edge',
  after: ['observability'],
  reloads: ['server.cors'],
  setup({ config, shared }) {
    const { server } = config;
    let cors = corsOptions(server.cors, server.requestIdHeader);
    const requestIdHeader = server.requestIdHeader.toLowerCase();
    const draining = () => shared.phase() === 'draining' || shared.phase() === 'stopped';
    const edge = createHttpEdge({
      server,
      graphqlPath: config.graphql.path,
      apiKeyHeader: config.auth.apiKeys.header,
      requestIdHeader,
      logger: shared.logger,
      metrics: shared.metrics,
    });
    const upgrades = createUpgradeRouter();
    return {
      provides: { httpEdge: edge, upgrades },
      register(app) {
        upgrades.install(app);
        app.addHook('onRequest', async (request, reply) => {
          reply.header(requestIdHeader, request.id);
          if (draining()) throw new GatewayError('SHUTTING_DOWN');
        });
        // Load shedding: after the request id (the 503 carries it) and before CORS, auth and body parsing.
        // Probes are exempt, so an overloaded gateway still reports itself live and ready.
        const inFlightLimit = useInFlightLimit({
          max: server.maxInFlightRequests,
          retryAfterSeconds: server.overloadRetryAfterSeconds,
          exempt: isProbe,
          metrics: shared.metrics,
        });
        app.addHook('onRequest', inFlightLimit.hook);
        // Headers that must appear once, Expect, the minimum upload rate, lingering close (http/edge.ts).
        edge.register(app);
        // CORS: its onRequest hook is global and answers a preflight (OPTIONS with Origin and
        // Access-Control-Request-Method) itself, before the routes' auth hooks and CSRF checks run.
        // The settings are read per request, so a config reload changes them for the next one.
        if (server.cors.origins.length > 0) {
          app.register(fastifyCors, {
            delegator: (_request, callback) => callback(null, cors),
            logLevel: 'silent',
          });
        }
        // While draining, every response closes its connection: keep-alive sockets would otherwise hold
        // the server open until the client's idle timeout and make shutdown wait for the deadline.
        app.addHook('onSend', async (_request, reply, payload) => {
          if (shared.phase() === 'draining') reply.header('connection', 'close');
          return payload;
        });
      },
      prepareReload({ next }) {
        const wasOn = server.cors.origins.length > 0;
        if (!wasOn && next.server.cors.origins.length > 0) {
          throw new RestartRequiredError(['server.cors.origins'], 'CORS was off at start-up (no origins): turning it on needs a restart');
        }
        const options = corsOptions(next.server.cors, server.requestIdHeader);
        return { commit: () => void (cors = options) };
      },
    };
  },
};

/** @fastify/cors's options for one request; no origins (turned off by a reload): no CORS headers. */
function corsOptions(cors: ServerConfig['cors'], requestIdHeader: string): FastifyCorsOptions {
  if (cors.origins.length === 0) return { origin: false };
  return {
    origin: cors.origins.includes('*') ? '*' : [...cors.origins],
    credentials: cors.credentials,
    methods: cors.methods,
    maxAge: cors.maxAgeSeconds,
    // Browsers may read the request id from a cross-origin answer.
    exposedHeaders: [requestIdHeader],
  };
}
