import type { Socket } from 'node:net';
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest, preParsingAsyncHookHandler } from 'fastify';
import type { GatewayMetrics } from '../observability/metrics.js';
import { decodeRequestBody } from './body-decoding.js';
import { minimumBodyRate } from './body-rate.js';
import { createClientErrorHandler, createConnectHandler, type ClientError } from './client-errors.js';
import { useExpectHeader } from './expect-header.js';
import { createLingeringClose, type LingeringBounds } from './lingering-close.js';
import { isGraphqlTarget } from './raw-error.js';
import { singleHeaders } from './single-headers.js';

export interface HttpEdgeOptions {
  /** `server.*` keys this layer reads (README "Security" → "The HTTP edge"). */
  server: {
    bodyLimitBytes: number;
    lingeringTimeMs: number;
    lingeringTimeoutMs: number;
    lingeringMaxBytes: number;
    minBodyRateBytesPerSecond: number;
    bodyRateGraceMs: number;
  };
  graphqlPath: string;
  /** The API key header (`auth.apiKeys.header`): one of the headers that must appear once. */
  apiKeyHeader: string;
  requestIdHeader: string;
  logger: FastifyBaseLogger;
  metrics?: GatewayMetrics | undefined;
}

export interface HttpEdge {
  /** Fastify's `clientErrorHandler` option. */
  readonly clientErrorHandler: (error: ClientError, socket: Socket) => void;
  /** The GraphQL route's `preParsing` hook: Content-Encoding and charset of the body. */
  readonly decodeBody: preParsingAsyncHookHandler;
  /** Registers the hooks and server listeners below; call it after the request-id and in-flight hooks. */
  register(app: FastifyInstance): void;
  /** Whether a request's errors take the GraphQL format: it targets the GraphQL path, whichever route (or none) answers it. */
  isGraphqlRequest(request: FastifyRequest): boolean;
}

/**
 * The HTTP edge: how the gateway answers hostile or malformed HTTP, every answer in the error format
 * of its path. One module per job; this one only puts them together:
 *
 * - lingering close after an early answer or a client error (`lingering-close.ts`);
 * - client errors and `CONNECT` (`client-errors.ts`);
 * - headers that must appear once, and `Host` (`single-headers.ts`);
 * - `Expect` (`expect-header.ts`);
 * - a minimum upload rate (`body-rate.ts`);
 * - Content-Encoding and charset of GraphQL bodies (`body-decoding.ts`).
 */
export function createHttpEdge(options: HttpEdgeOptions): HttpEdge {
  const { server, graphqlPath, requestIdHeader, logger, metrics } = options;
  const bounds: LingeringBounds = {
    timeMs: server.lingeringTimeMs,
    timeoutMs: server.lingeringTimeoutMs,
    maxBytes: server.lingeringMaxBytes,
  };
  const lingering = createLingeringClose(bounds);
  return {
    clientErrorHandler: createClientErrorHandler({ logger, metrics, requestIdHeader, graphqlPath, lingering }),
    decodeBody: decodeRequestBody(server.bodyLimitBytes),
    isGraphqlRequest: (request) => isGraphqlTarget(request.url, graphqlPath),
    register(app) {
      app.server.on('connect', createConnectHandler({ logger, metrics, requestIdHeader, graphqlPath }));
      const expect = useExpectHeader(app.server);
      app.addHook('onRequest', singleHeaders(options.apiKeyHeader));
      app.addHook('onRequest', expect.check);
      const rate = { bytesPerSecond: server.minBodyRateBytesPerSecond, graceMs: server.bodyRateGraceMs };
      app.addHook('onRequest', minimumBodyRate({ ...rate, graphqlPath, requestIdHeader, metrics }));
      app.addHook('preParsing', expect.continueBeforeBody);
      // An answer that goes out before its request's body arrived: drain the rest instead of a reset.
      app.addHook('onSend', async (request, reply, payload) => {
        if (!request.raw.complete) lingering.afterEarlyAnswer(request.raw, reply.raw);
        return payload;
      });
      app.addHook('preClose', async () => lingering.closeAll());
    },
  };
}
