import { SpanStatusCode, type Attributes, type Context, type Span, type SpanKind } from '@opentelemetry/api';

/*
 * What instrumented code needs of tracing, without the OpenTelemetry SDK: the SDK (tracing.ts) is
 * loaded only when tracing is on, so a gateway with tracing off never imports it.
 */

/** Headers as Fastify, undici and Apollo's fetcher hold them. */
type HeaderRecord = Record<string, string | string[] | undefined>;

/** The tracing of one request: its span and the context every span of the request descends from. */
export interface RequestTrace {
  readonly traceId: string;
  /** Whether this trace is recorded and exported (the sampler's decision). */
  readonly sampled: boolean;
  /** The request span's context: parent of the request's own spans, active while Apollo runs. */
  readonly context: Context;
  /** The request (server) span. */
  readonly span: Span;
  /** A span of this request, a child of `parent` (the request span by default); end it yourself. */
  startSpan(name: string, attributes?: Attributes, kind?: SpanKind, parent?: Context): Span;
  /** Writes `traceparent` (and `tracestate`) naming `span` as the parent into outgoing `headers`. */
  inject(span: Span, headers: HeaderRecord): void;
  /** Ends the request span once (later calls do nothing). */
  end(attributes: Attributes, error?: string): void;
}

/** Records a failure on `span`: status error with `message`, and `error.type`. */
export function failSpan(span: Span, type: string, message: string = type): void {
  span.setAttribute('error.type', type);
  span.setStatus({ code: SpanStatusCode.ERROR, message });
}

declare module '../context.js' {
  interface RequestState {
    /** The request's span and trace context; absent when tracing is off (or for probes). */
    trace?: RequestTrace | undefined;
  }
}
