import { createContextKey, trace, type Attributes, type Context, type Link, type SpanKind, type Tracer } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import {
  SamplingDecision,
  type ReadableSpan,
  type Sampler,
  type SamplingResult,
  type Span,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';

/**
 * The one tracer provider of the process, shared by every gateway in it.
 *
 * `@apollo/gateway` makes its spans (`gateway.request`, `gateway.plan`, `gateway.fetch`, ...) with a
 * tracer it took from the global OpenTelemetry API when it was loaded, so a provider must be
 * registered globally for them to exist; and the API holds on to the first provider its proxy
 * tracers delegate to, so a provider cannot be swapped or unregistered later. Hence: one provider,
 * registered the first time a gateway with tracing on starts, kept for the life of the process.
 *
 * Several gateways can share a process (the tests do), each with its own endpoint, sample ratio
 * and service name. Each one is a {@link TraceRoute}: a gateway puts its route in the context of
 * every request span it starts, every span below inherits that context (Apollo's too, through the
 * async context manager), and the provider's sampler and span processor hand each span to the
 * route it was started under. A span started under no route (a gateway with tracing off, in a
 * process where another turned it on) is not recorded.
 */
export interface TraceRoute {
  /** Decides which of this gateway's traces are recorded. */
  readonly sampler: Sampler;
  /** Receives this gateway's spans (a batch processor in front of its exporter). */
  readonly processor: SpanProcessor;
  /** `service.name` and friends of this gateway's spans. */
  readonly resource: Resource;
}

const ROUTE = createContextKey('federation-gateway.trace-route');

/** `context` with `route`: spans started under it (and under their children) belong to that gateway. */
export function withRoute(context: Context, route: TraceRoute): Context {
  return context.setValue(ROUTE, route);
}

function routeOf(context: Context): TraceRoute | undefined {
  return context.getValue(ROUTE) as TraceRoute | undefined;
}

class RoutingSampler implements Sampler {
  shouldSample(context: Context, traceId: string, name: string, kind: SpanKind, attributes: Attributes, links: Link[]): SamplingResult {
    const route = routeOf(context);
    return route ? route.sampler.shouldSample(context, traceId, name, kind, attributes, links) : { decision: SamplingDecision.NOT_RECORD };
  }

  toString(): string {
    return 'RoutingSampler';
  }
}

class RoutingProcessor implements SpanProcessor {
  private readonly routes = new WeakMap<object, TraceRoute>();

  onStart(span: Span, parentContext: Context): void {
    const route = routeOf(parentContext);
    if (!route) return;
    this.routes.set(span, route);
    route.processor.onStart(span, parentContext);
  }

  onEnd(span: ReadableSpan): void {
    const route = this.routes.get(span);
    if (!route) return;
    // The provider's resource is the first gateway's; each gateway's spans carry its own.
    route.processor.onEnd(
      span.resource === route.resource ? span : (Object.create(span, { resource: { value: route.resource } }) as ReadableSpan),
    );
  }

  // Each gateway flushes and shuts down its own route when it closes.
  async forceFlush(): Promise<void> {}
  async shutdown(): Promise<void> {}
}

let registered: { tracer: Tracer; global: boolean } | undefined;

/**
 * The process's tracer, registering the provider (and the AsyncLocalStorage context manager and
 * W3C propagator) on first use. `global` is false when another provider was registered first (an
 * application embedding the gateway with its own OpenTelemetry set-up): the gateway's own spans are
 * still made and exported, Apollo's go to that other provider.
 */
export function processTracer(firstResource: Resource): { tracer: Tracer; global: boolean } {
  if (!registered) {
    const provider = new NodeTracerProvider({
      resource: firstResource,
      sampler: new RoutingSampler(),
      spanProcessors: [new RoutingProcessor()],
    });
    provider.register();
    const current = trace.getTracerProvider() as { getDelegate?: () => unknown };
    registered = { tracer: provider.getTracer('federation-gateway'), global: current.getDelegate?.() === provider };
  }
  return registered;
}
