import { randomBytes, randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { AddressInfo } from 'node:net';
import { ApolloGateway } from '@apollo/gateway';
import { context as otelContext, type Attributes } from '@opentelemetry/api';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import fastifyCors from '@fastify/cors';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import type { DestinationStream, Logger } from 'pino';
import { createAuthenticator } from './auth/authenticate.js';
import { configuredSubgraphUrl, productionSettings, type GatewayConfig } from './config.js';
import { requestState, type GatewayContext, type RequestState } from './context.js';
import { ERRORS, GatewayError, graphqlErrorBody, restErrorBody, type ErrorCode } from './errors.js';
import { formatGatewayError } from './graphql/format-error.js';
import { useAuthorization } from './graphql/authorization-plugin.js';
import { useCostAndBudget } from './graphql/cost-plugin.js';
import { createCostAndBudget } from './cost-and-budget.js';
import { useFallbackReport } from './graphql/fallback-report-plugin.js';
import { useOperationResolution } from './graphql/operation-resolution-plugin.js';
import { useRequestInfo } from './graphql/request-info-plugin.js';
import { useIntrospectionPolicy } from './graphql/introspection-plugin.js';
import { maxDirectivesRule } from './graphql/request-limits.js';
import { useSubgraphErrorMasking } from './graphql/subgraph-error-masking-plugin.js';
import { useTrustedDocuments } from './graphql/trusted-documents-plugin.js';
import { declaredBodyLimit } from './http/declared-body-limit.js';
import { createGraphqlHandler } from './http/graphql-handler.js';
import { createHttpEdge } from './http/edge.js';
import { checkGraphqlRequest } from './http/graphql-request.js';
import { useInFlightLimit } from './http/in-flight-limit.js';
import { useTracing } from './graphql/tracing-plugin.js';
import { createLogger } from './observability/logging.js';
import { GatewayMetrics, type RequestOutcome } from './observability/metrics.js';
import type { GatewayTracing } from './observability/tracing.js';
import { ApqStore } from './persisted/apq-store.js';
import { DocumentResolver } from './persisted/documents.js';
import { readManifest } from './persisted/manifest.js';
import type { BudgetService } from './rate-limit/budget-service.js';
import { closeRedis, createRedis, redisConfigured, type RedisClient } from './redis.js';
import { createRestPassthrough } from './rest/passthrough.js';
import { SubgraphDataSource } from './subgraph/data-source.js';
import { createSubgraphFetch } from './subgraph/fetch.js';
import { SubgraphHealthBook } from './subgraph/health.js';
import { SubgraphLatencies } from './subgraph/latency.js';
import { createSubgraphResilience, loadStaticFallbackFiles } from './subgraph/resilience.js';
import { fileSupergraphSource, type LoadedSupergraph } from './supergraph/file-source.js';
import { listSubgraphs, type SubgraphRef } from './supergraph/subgraph-list.js';

export interface GatewayOptions {
  /** Log destination; stdout when absent. */
  logDestination?: DestinationStream;
}

export type GatewayPhase = 'starting' | 'ready' | 'draining' | 'stopped';

export interface Gateway {
  readonly app: FastifyInstance;
  readonly config: GatewayConfig;
  readonly logger: Logger;
  readonly metrics: GatewayMetrics;
  /** The per-client budget of cost points (also for non-GraphQL routes); undefined when rate limiting is off. */
  readonly budget: BudgetService | undefined;
  readonly phase: GatewayPhase;
  /** Base URL once listening, e.g. `http://127.0.0.1:4000`. */
  readonly url: string;
  /** Identifies this process in logs, `/ready` and its Redis connection name. */
  readonly instanceId: string;
  /** Listens, then loads the supergraph; resolves when ready, rejects (after closing) if it cannot load. */
  start(): Promise<void>;
  /** Starts listening: `/health` answers, `/ready` says not ready and GraphQL answers 503 until `load()`. */
  listen(): Promise<void>;
  /** Loads the supergraph and starts serving GraphQL; rejects (after closing) if it cannot load. */
  load(): Promise<void>;
  /** Stops accepting, waits for in-flight requests, closes subgraph connections and Redis. */
  close(): Promise<void>;
}

const PROBE_LOG_LEVEL = 'debug';
const REQUEST_ID_PATTERN = /^[\w.:@-]{1,128}$/;

/** Builds the gateway; throws a `ConfigError` when a file the config names (a static fallback) is missing or invalid. */
export function createGateway(config: GatewayConfig, options: GatewayOptions = {}): Gateway {
  // Files first: nothing is opened yet if one is broken.
  const staticFallbacks = config.resilience.enabled ? loadStaticFallbackFiles(config) : undefined;
  const trusted = config.graphql.trustedDocuments;
  const manifest = trusted.manifest ? readManifest(trusted.manifest) : undefined;
  const logger = createLogger({ level: config.logging.level, destination: options.logDestination });
  const metrics = new GatewayMetrics({
    maxOperationLabels: config.metrics.maxOperationLabels,
    maxClientLabels: config.metrics.maxClientLabels,
    defaultMetrics: config.metrics.defaultMetrics,
  });
  const instanceId = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  // Tracing on: set up by listen(), before the first request (the SDK is loaded only then).
  let tracing: GatewayTracing | undefined;
  const health = new SubgraphHealthBook();
  const subgraphFetch = createSubgraphFetch();
  const redis: RedisClient | undefined = redisConfigured(config.redis)
    ? createRedis(
        { ...config.redis, clusterNodes: config.redis.cluster?.nodes, connectionName: `gateway:${instanceId}` },
        logger.child({ component: 'redis' }),
      )
    : undefined;
  if (!redis) logger.info('no Redis configured: shared state stays in this process (in-memory store)');
  const authenticator = createAuthenticator({ config: config.auth, redis, logger: logger.child({ component: 'auth' }), metrics });

  const persistedLogger = logger.child({ component: 'persisted-queries' });
  const apq = config.graphql.apq;
  const documents = new DocumentResolver({
    apq: apq.enabled ? new ApqStore({ ...apq, redis, logger: persistedLogger, metrics }) : undefined,
    manifest,
    mode: trusted.mode,
    requireId: trusted.requireId,
    bypass: trusted.bypass,
    logger: persistedLogger,
    metrics,
  });
  if (documents.apqStore) persistedLogger.info({ store: documents.apqStore }, 'automatic persisted queries on');
  if (manifest)
    persistedLogger.info({ manifest: manifest.path, documents: manifest.documents.size, mode: trusted.mode }, 'trusted documents loaded');

  const resilience = config.resilience.enabled
    ? createSubgraphResilience({
        config,
        redis,
        instanceId,
        metrics,
        logger: logger.child({ component: 'subgraph' }),
        statics: staticFallbacks,
      })
    : undefined;
  // Only adaptive budgets read latencies; without them nothing is recorded.
  const latencies = config.rateLimit.adaptive.enabled ? new SubgraphLatencies() : undefined;

  const costAndBudget = createCostAndBudget(
    config,
    redis,
    logger,
    metrics,
    resilience && {
      // Combined over a replicated subgraph's replicas: degraded once all of them are out.
      breakerState: (name) => resilience.breakerState(name),
      latencyP95: (name, windowMs, minSamples) => latencies?.p95(name, windowMs, minSamples),
    },
  );

  const rest =
    config.rest.routes.length > 0
      ? createRestPassthrough({
          config,
          authenticate: authenticator.hook(),
          budget: costAndBudget?.budget,
          breakers: resilience?.breakers,
          cache: resilience?.cache,
          metrics,
          logger: logger.child({ component: 'rest' }),
        })
      : undefined;

  let phase: GatewayPhase = 'starting';
  let supergraph: LoadedSupergraph | undefined;
  let declaredSubgraphs: SubgraphRef[] = [];
  let url = '';

  const apolloGateway = new ApolloGateway({
    logger: logger.child({ component: 'apollo-gateway' }),
    supergraphSdl: fileSupergraphSource({
      ...config.supergraph,
      logger: logger.child({ component: 'supergraph' }),
      metrics,
      onLoaded: (loaded) => {
        supergraph = loaded;
        // Once per load, not per probe: /health and /ready are polled, and a supergraph can be large.
        declaredSubgraphs = listSubgraphs(loaded.sdl);
      },
    }),
    buildService: ({ name, url: supergraphUrl }) =>
      new SubgraphDataSource({
        name,
        // With replicas, the resilience layer picks each call's URL; Apollo is handed the first one.
        url: configuredSubgraphUrl(config, name) ?? supergraphUrl ?? '',
        fetcher: subgraphFetch.fetcher,
        requestIdHeader: config.server.requestIdHeader,
        principalHeaders: config.auth.propagation,
        metrics,
        health,
        latencies,
        logger: logger.child({ component: 'subgraph' }),
        resilience: resilience && { caller: resilience.caller(name), requestDeadlineMs: config.resilience.requestDeadlineMs },
      }),
  });

  const production = productionSettings(config.graphql);
  const apollo = new ApolloServer<GatewayContext>({
    gateway: apolloGateway,
    logger: logger.child({ component: 'apollo-server' }),
    // Always on for Apollo: useIntrospectionPolicy decides per caller (tier or scope).
    introspection: true,
    parseOptions: { maxTokens: config.graphql.maxTokens },
    validationRules: [maxDirectivesRule(config.graphql.maxDirectives)],
    hideSchemaDetailsFromClientErrors: production.hideSuggestions,
    includeStacktraceInErrorResponses: false,
    // main.ts owns shutdown; Apollo's own handler would stop it mid-drain and re-raise the signal.
    stopOnTerminationSignals: false,
    // Batches and persisted queries are handled by the route's handler (http/graphql-handler.ts),
    // which hands Apollo one operation at a time with its document resolved.
    allowBatchedHttpRequests: false,
    persistedQueries: false,
    csrfPrevention: { requestHeaders: config.graphql.csrfRequiredHeaders },
    formatError: formatGatewayError,
    plugins: [
      // Before useRequestInfo: its willSendResponse records the error codes this one adds.
      useIntrospectionPolicy({ policy: production.introspection }),
      useAuthorization({ realm: config.auth.realm }),
      // After useAuthorization: costs and charges the operation it filtered.
      ...(costAndBudget ? [useCostAndBudget(costAndBudget)] : []),
      // After useCostAndBudget: precomputes listed documents' costs with the schema's new cost model.
      ...(manifest
        ? [
            useTrustedDocuments({
              manifest,
              costs: costAndBudget?.costs,
              defaultListSize: config.cost.defaultListSize,
              logger: persistedLogger,
              metrics,
            }),
          ]
        : []),
      // Before useRequestInfo, which logs the codes; masking keeps them.
      ...(production.maskSubgraphErrors ? [useSubgraphErrorMasking()] : []),
      useRequestInfo(),
      useOperationResolution(),
      useFallbackReport(),
      ...(config.tracing.enabled ? [useTracing({ traceIdInExtensions: config.tracing.traceIdInExtensions })] : []),
      ...(config.graphql.landingPage ? [] : [ApolloServerPluginLandingPageDisabled()]),
    ],
  });

  const requestIdHeader = config.server.requestIdHeader.toLowerCase();
  const edge = createHttpEdge({
    server: config.server,
    graphqlPath: config.graphql.path,
    apiKeyHeader: config.auth.apiKeys.header,
    requestIdHeader,
    logger,
    metrics,
  });
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // One log line per request is written by the onResponse hook below, not by Fastify.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'reqId' }),
    bodyLimit: config.server.bodyLimitBytes,
    // request.ip honours X-Forwarded-For only when the peer is one of these (proxy-addr semantics).
    trustProxy: config.server.trustedProxies.length > 0 ? config.server.trustedProxies : false,
    requestIdHeader: false,
    genReqId: (raw) => {
      const incoming = raw.headers[requestIdHeader];
      return typeof incoming === 'string' && REQUEST_ID_PATTERN.test(incoming) ? incoming : randomUUID();
    },
    // Requests that arrive on an open connection while draining get SHUTTING_DOWN (onRequest below).
    return503OnClosing: false,
    // A target Fastify cannot decode (`%zz`) is answered in the gateway's error format, not Fastify's.
    frameworkErrors: (error, request, reply) => {
      reply.header(requestIdHeader, request.id);
      sendError(request, reply, error.code === 'FST_ERR_BAD_URL' ? 'INVALID_PATH' : 'BAD_REQUEST');
    },
    // Slow-client protection (README "Security"). Node's requestTimeout counts only until the request
    // has fully arrived, so it does not cut an answer that takes long (resilience.requestDeadlineMs).
    requestTimeout: config.server.requestTimeoutMs,
    keepAliveTimeout: config.server.keepAliveTimeoutMs,
    maxRequestsPerSocket: config.server.maxRequestsPerSocket,
    http: {
      headersTimeout: config.server.headersTimeoutMs,
      maxHeaderSize: config.server.maxHeaderBytes,
      // A missing Host is refused by the HTTP edge (http/single-headers.ts), in the gateway's format.
      requireHostHeader: false,
      // Node checks both timeouts on this interval (30 s by default), which would let a 10 s header
      // timeout run to 40 s; the check only walks connections with a request still arriving.
      connectionsCheckingInterval: connectionsCheckingInterval(config.server.headersTimeoutMs),
    },
    clientErrorHandler: edge.clientErrorHandler,
  });
  // Over the cap Node closes a new connection as soon as it is accepted (no HTTP answer is possible
  // before a request arrives); `drop` is emitted for each one.
  if (config.server.maxConnections > 0) app.server.maxConnections = config.server.maxConnections;
  app.server.on('drop', () => metrics.httpRejections.inc({ reason: 'connection_limit' }));
  // GraphQL bodies are JSON only: without a text/plain parser, any other type is a 415.
  app.removeContentTypeParser(['text/plain']);

  const isProbe = (request: FastifyRequest) =>
    Boolean(request.routeOptions.config && (request.routeOptions.config as { probe?: boolean }).probe);

  app.addHook('onRequest', async (request, reply) => {
    reply.header(requestIdHeader, request.id);
    // Creates the request's state now, so the request deadline counts from here.
    const state = requestState(request);
    // Probes are polled every few seconds and tell nothing about a request path: no spans.
    if (tracing && !isProbe(request)) state.trace = tracing.startRequest(request);
    if (phase === 'draining' || phase === 'stopped') throw new GatewayError('SHUTTING_DOWN');
  });

  // Load shedding: after the request id (the 503 carries it) and before CORS, auth and body parsing.
  // Probes are exempt, so an overloaded gateway still reports itself live and ready.
  const inFlightLimit = useInFlightLimit({
    max: config.server.maxInFlightRequests,
    retryAfterSeconds: config.server.overloadRetryAfterSeconds,
    exempt: isProbe,
    metrics,
  });
  app.addHook('onRequest', inFlightLimit.hook);
  // The HTTP edge (README "Security"): headers that must appear once, Expect, upload rate, lingering close.
  edge.register(app);

  // CORS: its onRequest hook is global and answers a preflight (OPTIONS with Origin and
  // Access-Control-Request-Method) itself, before the routes' auth hooks and CSRF checks run.
  const cors = config.server.cors;
  if (cors.origins.length > 0) {
    app.register(fastifyCors, {
      origin: cors.origins.includes('*') ? '*' : cors.origins,
      credentials: cors.credentials,
      methods: cors.methods,
      maxAge: cors.maxAgeSeconds,
      // Browsers may read the request id from a cross-origin answer.
      exposedHeaders: [config.server.requestIdHeader],
      logLevel: 'silent',
    });
  }

  const graphqlPath = config.graphql.path;
  const isGraphqlRequest = (request: FastifyRequest) => request.routeOptions.url === graphqlPath;

  // While draining, every response closes its connection: keep-alive sockets would otherwise hold
  // the server open until the client's idle timeout and make shutdown wait for the deadline.
  app.addHook('onSend', async (_request, reply, payload) => {
    if (phase === 'draining') reply.header('connection', 'close');
    return payload;
  });

  // A client that hangs up before the answer: its span ends here (onResponse does not run).
  app.addHook('onRequestAbort', async (request) => {
    requestState(request).trace?.end({ 'gateway.aborted': true }, 'client closed the connection');
  });

  /** Counts one GraphQL operation in the metrics and describes it for the request's log line. */
  const recordOperation = (state: RequestState, status: number, seconds: number) => {
    const outcome = requestOutcome(status, state.errorCodes, state.hasData);
    metrics.observeRequest(state.operationName, state.operationType ?? 'unknown', outcome, seconds);
    return {
      operationName: state.operationName,
      operationType: state.operationType,
      outcome,
      errorCodes: state.errorCodes.length ? state.errorCodes : undefined,
      cost: state.cost,
      trustedDocumentId: state.trustedDocumentId,
    };
  };

  app.addHook('onResponse', async (request, reply) => {
    const probe = isProbe(request);
    const seconds = reply.elapsedTime / 1000;
    const line: Record<string, unknown> = {
      method: request.method,
      path: request.url.split('?')[0],
      status: reply.statusCode,
      durationMs: Math.round(reply.elapsedTime * 100) / 100,
    };
    const principal = requestState(request).principal;
    if (principal) Object.assign(line, { principal: principal.clientKey, tier: principal.tier });
    const restInfo = requestState(request).rest;
    if (restInfo) {
      metrics.observeRest(restInfo.route, request.method, reply.statusCode, seconds);
      Object.assign(line, {
        route: restInfo.route,
        upstreamStatus: restInfo.upstreamStatus,
        attempts: restInfo.attempts,
        fallback: restInfo.fallback,
        failure: restInfo.failure,
      });
    }
    if (isGraphqlRequest(request)) {
      const state = requestState(request);
      if (state.batch) {
        // One line for the HTTP request: the batch size, each operation's outcome, and the total cost;
        // metrics count each operation on its own.
        const operations = state.batch.map((op) => recordOperation(op.state, op.status, op.durationMs / 1000));
        const estimated = state.batch.reduce((sum, op) => sum + (op.state.cost?.estimated ?? 0), 0);
        const actual = state.batch.reduce((sum, op) => sum + (op.state.cost?.actual ?? 0), 0);
        Object.assign(line, { batchSize: state.batch.length, operations, cost: { estimated, actual } });
      } else {
        const operation = recordOperation(state, reply.statusCode, seconds);
        Object.assign(line, operation, { operationName: state.operationName ?? requestedOperationName(request) });
      }
    }
    const trace = requestState(request).trace;
    if (trace) {
      line.traceId = trace.traceId;
      trace.end(requestSpanAttributes(requestState(request), line), reply.statusCode >= 500 ? `HTTP ${reply.statusCode}` : undefined);
    }
    request.log[probe ? PROBE_LOG_LEVEL : 'info'](line, 'request completed');
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const code = errorCodeOf(error);
    // OVERLOADED is load shedding, counted in gateway_http_rejections_total: one error line per refused
    // request would make the log the next thing to overload.
    if (ERRORS[code].status >= 500 && code !== 'OVERLOADED') request.log.error({ err: error }, 'unhandled error');
    const message = error instanceof GatewayError ? error.message : ERRORS[code].message;
    if (error instanceof GatewayError) reply.headers(error.headers);
    sendError(request, reply, code, message);
  });

  // The GraphQL path exists for GET and POST: another method there is 405, not 404.
  app.setNotFoundHandler((request, reply) =>
    sendError(request, reply, edge.isGraphqlRequest(request) ? 'METHOD_NOT_ALLOWED' : 'NOT_FOUND'),
  );

  function sendError(request: FastifyRequest, reply: FastifyReply, code: ErrorCode, message?: string) {
    const status = ERRORS[code].status;
    // The GraphQL path's errors are GraphQL responses whichever route (or none) refused the request.
    if (code === 'METHOD_NOT_ALLOWED' && edge.isGraphqlRequest(request)) reply.header('allow', 'GET, POST');
    if (edge.isGraphqlRequest(request)) {
      requestState(request).errorCodes = [code];
      return reply.code(status).type('application/json; charset=utf-8').send(graphqlErrorBody(code, message));
    }
    return reply.code(status).send(restErrorBody(code, request.id, message));
  }

  // Liveness: always 200 while the process runs; the breaker summary is information, not a verdict.
  app.get('/health', { config: { probe: true } }, async () => {
    // Breaker states name the subgraphs: only with server.readinessDetail (an admin's switch).
    if (!resilience || !supergraph || !config.server.readinessDetail) return { status: 'ok' };
    const subgraphs = Object.fromEntries(
      declaredSubgraphs.flatMap(({ name }) => {
        const snapshot = resilience.snapshot(name);
        return snapshot ? [[name, { breaker: snapshot.state, errorRate: snapshot.errorRate }]] : [];
      }),
    );
    return { status: 'ok', subgraphs };
  });

  const replicasOf = (name: string) => {
    const replicas = resilience?.replicas(name);
    return replicas ? { replicas, replicasAvailable: resilience?.replicasAvailable(name) } : {};
  };

  app.get('/ready', { config: { probe: true } }, async (_request, reply) => {
    const ready = phase === 'ready';
    // On the public port, the status only: subgraph URLs, the instance and breakers are for admins.
    if (!config.server.readinessDetail) return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', phase });
    const subgraphs = declaredSubgraphs.map(({ name, url: declaredUrl }) => ({
      name,
      url: configuredSubgraphUrl(config, name) ?? declaredUrl,
      ...health.get(name),
      breaker: resilience?.snapshot(name) ?? null,
      // Information, not a verdict: a subgraph with no replica in rotation leaves the gateway ready
      // (it still serves other subgraphs, partial results and fallbacks), as a failing single URL does.
      ...replicasOf(name),
    }));
    return reply.code(ready ? 200 : 503).send({
      status: ready ? 'ready' : 'not_ready',
      phase,
      instance: instanceId,
      supergraph: supergraph
        ? { id: supergraph.id.slice(0, 12), loadedAt: supergraph.loadedAt.toISOString(), path: config.supergraph.path }
        : null,
      subgraphs,
      rest: rest?.snapshot() ?? [],
      redis: redis ? { status: redis.status } : { status: 'not_configured' },
    });
  });

  if (config.metrics.enabled) {
    app.get(config.metrics.path, { config: { probe: true } }, async (_request, reply) => {
      reply.type(metrics.registry.contentType);
      return metrics.registry.metrics();
    });
  }

  // Apollo's handler can only be built once Apollo has started (start() sets it); until then the
  // preHandler answers SUPERGRAPH_NOT_LOADED.
  let apolloHandler: ReturnType<typeof createGraphqlHandler> | undefined;
  app.route({
    method: ['GET', 'POST'],
    url: graphqlPath,
    // A body declared too large is refused first; then who is calling is settled before the body is
    // parsed or any GraphQL work is done.
    onRequest: [declaredBodyLimit(config.server.bodyLimitBytes), authenticator.hook()],
    preParsing: edge.decodeBody,
    preHandler: async (request) => {
      if (phase === 'starting') throw new GatewayError('SUPERGRAPH_NOT_LOADED');
      checkGraphqlRequest(request, config.graphql);
    },
    handler: async (request, reply) => {
      if (!apolloHandler) throw new GatewayError('SUPERGRAPH_NOT_LOADED');
      const handle = apolloHandler;
      const trace = requestState(request).trace;
      // Apollo runs with the request span active: @apollo/gateway's own spans become its children.
      if (trace) return otelContext.with(trace.context, () => handle(request, reply));
      return handle(request, reply);
    },
  });
  app.route({
    method: ['PUT', 'PATCH', 'DELETE'],
    url: graphqlPath,
    handler: async () => {
      throw new GatewayError('METHOD_NOT_ALLOWED');
    },
  });

  // REST passthrough routes: an encapsulated plugin with its own (non-parsing) content-type handling,
  // behind the same auth hook, budget, breakers and fallback cache as GraphQL.
  if (rest) app.register(rest.plugin);

  app.addHook('onClose', async () => {
    // Runs after the HTTP server has stopped and in-flight requests have finished.
    await apollo.stop().catch((error: Error) => logger.warn({ err: error.message }, 'apollo stop failed'));
    await subgraphFetch.close().catch(() => undefined);
    rest?.close();
    authenticator.close();
    await resilience?.close();
    if (redis) await closeRedis(redis);
    // Last: the spans of the requests that just finished are exported before the gateway says it stopped.
    await tracing?.close();
  });

  const gateway: Gateway = {
    app,
    config,
    logger,
    metrics,
    budget: costAndBudget?.budget,
    get phase() {
      return phase;
    },
    get url() {
      return url;
    },
    instanceId,
    async start() {
      await gateway.listen();
      await gateway.load();
    },
    async listen() {
      if (config.tracing.enabled && !tracing) {
        // The process-wide provider is registered (once) and this gateway's exporter started.
        const { GatewayTracing } = await import('./observability/tracing.js');
        tracing = new GatewayTracing({
          config: config.tracing,
          trustedProxies: config.server.trustedProxies,
          instanceId,
          logger: logger.child({ component: 'tracing' }),
        });
      }
      await app.listen({ host: config.server.host, port: config.server.port });
      const address = app.server.address() as AddressInfo;
      const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      url = `http://${host}:${address.port}`;
    },
    async load() {
      try {
        await apollo.start();
      } catch (error) {
        logger.error({ err: error instanceof Error ? error.message : String(error) }, 'supergraph failed to load');
        phase = 'stopped';
        await app.close();
        throw error;
      }
      apolloHandler = createGraphqlHandler({ apollo, documents, metrics });
      phase = 'ready';
      logger.info({ url, graphql: `${url}${graphqlPath}`, supergraph: config.supergraph.path }, 'gateway ready');
    },
    async close() {
      if (phase === 'stopped') return;
      phase = 'draining';
      const sweep = setInterval(() => app.server.closeIdleConnections(), 250);
      try {
        await app.close();
      } finally {
        clearInterval(sweep);
      }
      phase = 'stopped';
    },
  };
  return gateway;
}

/** How often Node checks the header and request timeouts: a quarter of the header timeout, within 50 ms .. 1 s. */
function connectionsCheckingInterval(headersTimeoutMs: number): number {
  return Math.max(50, Math.min(1_000, Math.floor(headersTimeoutMs / 4)));
}

/** The request span's attributes at the end, from the request's state and its log line (never a credential). */
function requestSpanAttributes(state: RequestState, line: Record<string, unknown>): Attributes {
  const attributes: Attributes = { 'http.response.status_code': line.status as number };
  const principal = state.principal;
  if (principal)
    Object.assign(attributes, {
      'gateway.client.id': principal.clientKey,
      'gateway.client.kind': principal.kind,
      'gateway.client.tier': principal.tier,
    });
  if (state.cost) attributes['gateway.cost.estimated'] = state.cost.estimated;
  if (state.cost?.actual !== undefined) attributes['gateway.cost.actual'] = state.cost.actual;
  if (state.rateLimit) attributes['gateway.rate_limit.result'] = state.rateLimit.result;
  if (state.rateLimit?.remaining !== undefined) attributes['gateway.rate_limit.remaining'] = state.rateLimit.remaining;
  if (state.errorCodes.length) attributes['gateway.error_codes'] = [...state.errorCodes];
  if (typeof line.outcome === 'string') attributes['gateway.outcome'] = line.outcome;
  if (typeof line.operationName === 'string') attributes['graphql.operation.name'] = line.operationName;
  if (state.operationType) attributes['graphql.operation.type'] = state.operationType;
  if (state.fallbacks.length) attributes['gateway.fallback.sources'] = [...new Set(state.fallbacks.map((use) => use.source))];
  const rest = state.rest;
  if (rest) {
    Object.assign(attributes, { 'gateway.rest.route': rest.route, 'gateway.rest.attempts': rest.attempts });
    if (rest.upstreamStatus !== undefined) attributes['gateway.rest.upstream_status'] = rest.upstreamStatus;
    if (rest.fallback) attributes['gateway.fallback.sources'] = [rest.fallback];
  }
  return attributes;
}

function requestOutcome(status: number, errorCodes: string[], hasData: boolean): RequestOutcome {
  if (status >= 500) return 'server_error';
  if (status >= 400) return 'client_error';
  if (errorCodes.length > 0) return hasData ? 'partial' : 'graphql_error';
  return 'success';
}

function requestedOperationName(request: FastifyRequest): string | undefined {
  const source = (request.method === 'GET' ? request.query : request.body) as { operationName?: unknown } | undefined;
  const name = source?.operationName;
  return typeof name === 'string' ? name.slice(0, 100) : undefined;
}

function errorCodeOf(error: FastifyError): ErrorCode {
  if (error instanceof GatewayError) return error.code;
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return 'UNSUPPORTED_MEDIA_TYPE';
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return 'PAYLOAD_TOO_LARGE';
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return 'MALFORMED_JSON';
  }
  if (error instanceof SyntaxError && error.statusCode === 400) return 'MALFORMED_JSON';
  const status = error.statusCode ?? 500;
  if (status === 413) return 'PAYLOAD_TOO_LARGE';
  if (status === 415) return 'UNSUPPORTED_MEDIA_TYPE';
  if (status === 405) return 'METHOD_NOT_ALLOWED';
  if (status >= 400 && status < 500) return 'BAD_REQUEST';
  return 'INTERNAL_SERVER_ERROR';
}
