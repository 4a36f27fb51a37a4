import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { ServerConfig } from './config.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import type { HttpEdge } from './edge.js';
import { installErrorAnswers, sendError } from './error-answers.js';

const REQUEST_ID_PATTERN = /^[\w.:@-]{1,128}$/;

/**
 * The gateway's Fastify instance with the server-wide settings: body limit, trusted proxies,
 * request ids, slow-client protection (README "Security"), connection caps, and errors answered in
 * the gateway's format, including those Node raises before a request exists.
 */
export function createHttpApp(
  config: { server: ServerConfig; graphql: { path: string } },
  shared: { logger: Logger; metrics: GatewayMetrics },
  edge: Pick<HttpEdge, 'clientErrorHandler'>,
) {
  const { server } = config;
  const { logger, metrics } = shared;
  const requestIdHeader = server.requestIdHeader.toLowerCase();
  const app: FastifyInstance = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // One log line per request is written by the observability feature, not by Fastify.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'reqId' }),
    bodyLimit: server.bodyLimitBytes,
    // request.ip honours X-Forwarded-For only when the peer is one of these (proxy-addr semantics).
    trustProxy: server.trustedProxies.length > 0 ? server.trustedProxies : false,
    requestIdHeader: false,
    genReqId: (raw) => {
      const incoming = raw.headers[requestIdHeader];
      return typeof incoming === 'string' && REQUEST_ID_PATTERN.test(incoming) ? incoming : randomUUID();
    },
    // Requests that arrive on an open connection while draining get SHUTTING_DOWN (the edge feature).
    return503OnClosing: false,
    // A target Fastify cannot decode (`%zz`) is answered in the gateway's error format, not Fastify's.
    frameworkErrors: (error, request, reply) => {
      reply.header(requestIdHeader, request.id);
      sendError(config.graphql.path, request, reply, error.code === 'FST_ERR_BAD_URL' ? 'INVALID_PATH' : 'BAD_REQUEST');
    },
    // Node's requestTimeout counts only until the request has fully arrived, so it does not cut an
    // answer that takes long (resilience.requestDeadlineMs).
    requestTimeout: server.requestTimeoutMs,
    keepAliveTimeout: server.keepAliveTimeoutMs,
    maxRequestsPerSocket: server.maxRequestsPerSocket,
    http: {
      headersTimeout: server.headersTimeoutMs,
      maxHeaderSize: server.maxHeaderBytes,
      // A missing Host is refused by the HTTP edge (http/single-headers.ts), in the gateway's format.
      requireHostHeader: false,
      // Node checks both timeouts on this interval (30 s by default), which would let a 10 s header
      // timeout run to 40 s; the check only walks connections with a request still arriving.
      connectionsCheckingInterval: connectionsCheckingInterval(server.headersTimeoutMs),
    },
    clientErrorHandler: edge.clientErrorHandler,
  });
  // Over the cap Node closes a new connection as soon as it is accepted (no HTTP answer is possible
  // before a request arrives); `drop` is emitted for each one.
  if (server.maxConnections > 0) app.server.maxConnections = server.maxConnections;
  app.server.on('drop', () => metrics.httpRejections.inc({ reason: 'connection_limit' }));
  // GraphQL bodies are JSON only: without a text/plain parser, any other type is a 415.
  app.removeContentTypeParser(['text/plain']);
  installErrorAnswers(app, config.graphql.path);
  return app;
}

/** How often Node checks the header and request timeouts: a quarter of the header timeout, within 50 ms .. 1 s. */
function connectionsCheckingInterval(headersTimeoutMs: number): number {
  return Math.max(50, Math.min(1_000, Math.floor(headersTimeoutMs / 4)));
}
