import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  defaultTextMapGetter,
  defaultTextMapSetter,
  trace,
  type Context,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import { ExportResultCode, W3CTraceContextPropagator, type ExportResult } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  type ReadableSpan,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import type { FastifyRequest } from 'fastify';
import { isCatchAll } from '../context.js';
import type { Logger } from 'pino';
import type { TracingConfig } from './config.js';
import type { RequestTrace } from './request-trace.js';
import { processTracer, withRoute, type TraceRoute } from './tracer-provider.js';
import { compile } from '@fastify/proxy-addr';

export interface GatewayTracingOptions {
  /** The `tracing` section of the config. */
  config: TracingConfig;
  /** `server.trustedProxies`: the peers trusted when `tracing.trustIncoming` is `trustedProxies`. */
  trustedProxies: readonly string[];
  /** Becomes `service.instance.id`. */
  instanceId: string;
  logger: Logger;
  /** Where finished spans go. @default an OTLP/HTTP (JSON) exporter to `config.endpoint` */
  exporter?: SpanExporter | undefined;
}

const propagator = new W3CTraceContextPropagator();

/**
 * OpenTelemetry tracing of one gateway: starts the span of each request, honouring an
 * incoming `traceparent` only from trusted peers, and owns the batch exporter its spans go to.
 * Created only when `tracing.enabled` is true, and this module (with the SDK it imports) is only
 * loaded then (server.ts imports it dynamically): with tracing off nothing is loaded or registered,
 * and the request state has no `trace`, so no instrumented code path does any tracing work.
 */
export class GatewayTracing {
  private readonly tracer: Tracer;
  private readonly route: TraceRoute;
  private readonly processor: BatchSpanProcessor;
  private readonly trusts: (request: FastifyRequest) => boolean;
  private readonly closeTimeoutMs: number;

  constructor(options: GatewayTracingOptions) {
    const { config } = options;
    this.closeTimeoutMs = config.exportTimeoutMs;
    const exporter = new LoggedExporter(
      options.exporter ?? new OTLPTraceExporter({ url: config.endpoint, timeoutMillis: config.exportTimeoutMs }),
      options.logger,
    );
    this.processor = new BatchSpanProcessor(exporter, {
      scheduledDelayMillis: config.exportDelayMs,
      maxQueueSize: config.maxQueueSize,
      maxExportBatchSize: Math.min(512, config.maxQueueSize),
    });
    const resource = defaultResource().merge(
      resourceFromAttributes({ [ATTR_SERVICE_NAME]: config.serviceName, 'service.instance.id': options.instanceId }),
    );
    this.route = {
      sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(config.sampleRatio) }),
      processor: this.processor,
      resource,
    };
    const { tracer, global } = processTracer(resource);
    this.tracer = tracer;
    if (!global)
      options.logger.warn(
        "another OpenTelemetry tracer provider was registered first: @apollo/gateway's spans go to it, not to tracing.endpoint",
      );
    this.trusts = trustPolicy(config.trustIncoming, options.trustedProxies);
    options.logger.info(
      { endpoint: config.endpoint, serviceName: config.serviceName, sampleRatio: config.sampleRatio, trustIncoming: config.trustIncoming },
      'tracing on',
    );
  }

  /** Starts the span of `request` (kind server), as a child of its `traceparent` when the peer is trusted. */
  startRequest(request: FastifyRequest): RequestTrace {
    const parent = this.trusts(request) ? propagator.extract(ROOT_CONTEXT, request.headers, defaultTextMapGetter) : ROOT_CONTEXT;
    const routed = withRoute(parent, this.route);
    // A catch-all route names the span itself once it knows which route matched (see rest/routes.ts).
    const route = isCatchAll(request) ? undefined : request.routeOptions.url;
    const span = this.tracer.startSpan(
      route ? `${request.method} ${route}` : request.method,
      {
        kind: SpanKind.SERVER,
        attributes: {
          'http.request.method': request.method,
          ...(route ? { 'http.route': route } : {}),
          'url.path': request.url.split('?')[0],
          'url.scheme': request.protocol,
          'client.address': request.ip,
          'gateway.request_id': request.id,
        },
      },
      routed,
    );
    return requestTrace(this.tracer, span, trace.setSpan(routed, span));
  }

  /**
   * Exports what is queued and stops this gateway's exporter (spans still open are not exported),
   * waiting at most `exportTimeoutMs`: a collector that is down must not hold up a shutdown.
   */
  async close(): Promise<void> {
    const done = (async () => {
      await this.processor.forceFlush().catch(() => undefined);
      await this.processor.shutdown().catch(() => undefined);
    })();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.closeTimeoutMs);
      timer.unref();
    });
    await Promise.race([done, deadline]);
    clearTimeout(timer);
  }
}

/** How often a collector that keeps failing is logged about. */
const EXPORT_FAILURE_LOG_INTERVAL_MS = 60_000;

/**
 * Says in the gateway's log when exports fail (the SDK would only tell its own diagnostic logger,
 * which is off): the first failure, then at most once a minute while they go on, with the spans
 * dropped meanwhile, and once when exports work again.
 */
class LoggedExporter implements SpanExporter {
  private failingSince: number | undefined;
  private lastLogged = 0;
  private dropped = 0;

  constructor(
    private readonly inner: SpanExporter,
    private readonly logger: Logger,
  ) {}

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.inner.export(spans, (result) => {
      if (result.code === ExportResultCode.SUCCESS) {
        if (this.failingSince !== undefined) this.logger.info({ droppedSpans: this.dropped }, 'tracing export recovered');
        this.failingSince = undefined;
        this.dropped = 0;
      } else {
        const now = Date.now();
        this.failingSince ??= now;
        this.dropped += spans.length;
        if (now - this.lastLogged >= EXPORT_FAILURE_LOG_INTERVAL_MS) {
          this.lastLogged = now;
          this.logger.warn({ err: result.error?.message, droppedSpans: this.dropped }, 'tracing export failed; spans dropped');
        }
      }
      done(result);
    });
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}

function requestTrace(tracer: Tracer, span: Span, context: Context): RequestTrace {
  let ended = false;
  const spanContext = span.spanContext();
  return {
    traceId: spanContext.traceId,
    sampled: span.isRecording(),
    context,
    span,
    startSpan: (name, attributes, kind = SpanKind.INTERNAL, parent = context) => tracer.startSpan(name, { kind, attributes }, parent),
    inject: (child, headers) => propagator.inject(trace.setSpan(context, child), headers, defaultTextMapSetter),
    end(attributes, error) {
      if (ended) return;
      ended = true;
      span.setAttributes(attributes);
      if (error) span.setStatus({ code: SpanStatusCode.ERROR, message: error });
      span.end();
    },
  };
}

/**
 * Whose trace context is continued. Not everyone's by default: a client that picks its trace id can
 * join or pollute someone else's trace, and one that sets the sampled flag on every request
 * bypasses `sampleRatio` and makes the gateway export all of its traffic.
 */
function trustPolicy(trust: TracingConfig['trustIncoming'], trustedProxies: readonly string[]): (request: FastifyRequest) => boolean {
  if (trust === 'always') return () => true;
  if (trust === 'never') return () => false;
  const entries = trust === 'trustedProxies' ? trustedProxies : trust;
  if (entries.length === 0) return () => false;
  // The matcher Fastify's trustProxy compiles server.trustedProxies with (IPv4-mapped peers included).
  const matches = compile([...entries]);
  // The direct peer, not X-Forwarded-For: trust is about who handed us the header.
  return (request) => {
    const peer = request.socket.remoteAddress;
    return peer !== undefined && matches(peer, 0);
  };
}
