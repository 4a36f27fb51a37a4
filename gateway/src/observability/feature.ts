import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { MetricsConfig, TracingConfig } from './config.js';
import { inheritedByOperations, isProbe, requestState } from '../context.js';
import type { Feature, FeatureContributions } from '../feature.js';
import type { GatewayMetrics } from './metrics.js';
import type { GatewayTracing } from './tracing.js';
import { useTracing } from './tracing-plugin.js';

const PROBE_LOG_LEVEL = 'debug';

/**
 * What the gateway tells its operators: one log line per request and, with tracing on, a request
 * span (both made of every feature's `describe`), and the `/metrics` route. It comes first in the
 * list: the request span starts before any other feature's hook runs.
 */
export const observabilityFeature: Feature<
  { tracing: TracingConfig; metrics: MetricsConfig; server: { trustedProxies: string[] } },
  { logger: Logger; metrics: GatewayMetrics; instanceId: string }
> = {
  name: 'observability',
  setup({ config, shared, contributions }) {
    const { logger, metrics } = shared;
    // Each operation of a batch has its spans under the HTTP request's span.
    inheritedByOperations('trace');
    // With tracing on, set up by beforeListen (the SDK is loaded only then), before the first request.
    let tracing: GatewayTracing | undefined;
    return {
      register(app) {
        app.addHook('onRequest', async (request) => {
          // Creates the request's state now, so the request deadline counts from here.
          const state = requestState(request);
          // Probes are polled every few seconds and tell nothing about a request path: no spans.
          if (tracing && !isProbe(request)) state.trace = tracing.startRequest(request);
        });
        // A client that hangs up before the answer: its span ends here (onResponse does not run).
        app.addHook('onRequestAbort', async (request) => {
          requestState(request).trace?.end({ 'gateway.aborted': true }, 'client closed the connection');
        });
        app.addHook('onResponse', async (request, reply) => logRequest(request, reply, contributions));
        if (config.metrics.enabled && config.metrics.listener === 'public') {
          app.get(config.metrics.path, { config: { probe: true } }, async (_request, reply) => {
            reply.type(metrics.registry.contentType);
            return metrics.registry.metrics();
          });
        }
      },
      apolloPlugins: config.tracing.enabled ? [useTracing({ traceIdInExtensions: config.tracing.traceIdInExtensions })] : [],
      async beforeListen() {
        if (!config.tracing.enabled || tracing) return;
        // The process-wide provider is registered (once) and this gateway's exporter started.
        const { GatewayTracing } = await import('./tracing.js');
        tracing = new GatewayTracing({
          config: config.tracing,
          trustedProxies: config.server.trustedProxies,
          instanceId: shared.instanceId,
          logger: logger.child({ component: 'tracing' }),
        });
      },
      // Last of all (the list's first feature): the spans of the requests that just finished are exported.
      close: async () => tracing?.close(),
    };
  },
};

/** The request's one log line, and the end of its span, from every feature's description. */
function logRequest(request: FastifyRequest, reply: FastifyReply, contributions: FeatureContributions): void {
  const level = isProbe(request) ? PROBE_LOG_LEVEL : 'info';
  const trace = requestState(request).trace;
  // Neither a line nor a span to end (logging above info, tracing off): nothing to describe.
  // request.log is a child of the gateway's pino logger (http/app.ts), typed by Fastify without isLevelEnabled.
  if (!trace && !(request.log as unknown as Logger).isLevelEnabled(level)) return;
  const line: Record<string, unknown> = {
    method: request.method,
    path: request.url.split('?')[0],
    status: reply.statusCode,
    durationMs: Math.round(reply.elapsedTime * 100) / 100,
  };
  const span: Record<string, unknown> = { 'http.response.status_code': reply.statusCode };
  for (const describe of contributions.describers) {
    const description = describe(request, reply);
    if (description?.log) Object.assign(line, description.log);
    if (description?.span && trace) Object.assign(span, description.span);
  }
  if (trace) {
    line.traceId = trace.traceId;
    trace.end(span as Parameters<typeof trace.end>[0], reply.statusCode >= 500 ? `HTTP ${reply.statusCode}` : undefined);
  }
  request.log[level](line, 'request completed');
}
