import { SpanKind, trace as otelTrace, type Context } from '@opentelemetry/api';
import { failSpan, type RequestTrace } from '../observability/request-trace.js';
import { callFailureOf } from '../upstream/call-error.js';

/**
 * The spans of one subgraph call's attempts (tracing on only): each attempt, retries included, is a
 * client span `gateway.subgraph.attempt` whose `traceparent` goes out with that attempt, so the
 * subgraph's own spans hang below the attempt that reached it.
 */
export interface AttemptTracer {
  /**
   * Runs attempt `number` (1-based) in its own span; `run` gets the trace headers to add to the
   * request. `breaker` is the breaker's state when the attempt started (undefined: no breaker).
   */
  attempt<T extends { status: number }>(
    number: number,
    breaker: string | undefined,
    run: (traceHeaders: Record<string, string>) => Promise<T>,
  ): Promise<T>;
  /** The call joined an identical one already in flight (dedupe): its attempts are that call's, in that request's trace. */
  joined(): void;
}

export function subgraphAttemptTracer(trace: RequestTrace, parent: Context, subgraph: string, url: string): AttemptTracer {
  const target = new URL(url);
  const base = {
    'gateway.subgraph.name': subgraph,
    'http.request.method': 'POST',
    'server.address': target.hostname,
    'server.port': Number(target.port || (target.protocol === 'https:' ? 443 : 80)),
    'url.path': target.pathname,
  };
  return {
    async attempt(number, breaker, run) {
      const span = trace.startSpan(
        'gateway.subgraph.attempt',
        { ...base, 'gateway.attempt': number, ...(breaker ? { 'gateway.breaker.state': breaker } : {}) },
        SpanKind.CLIENT,
        parent,
      );
      const headers: Record<string, string> = {};
      trace.inject(span, headers);
      try {
        const response = await run(headers);
        span.setAttribute('http.response.status_code', response.status);
        if (response.status >= 400) failSpan(span, String(response.status), `HTTP ${response.status}`);
        return response;
      } catch (error) {
        const status = (error as { status?: unknown }).status;
        if (typeof status === 'number') span.setAttribute('http.response.status_code', status);
        failSpan(span, callFailureOf(error), error instanceof Error ? error.message : String(error));
        throw error;
      } finally {
        span.end();
      }
    },
    joined() {
      otelTrace.getSpan(parent)?.setAttribute('gateway.subgraph.deduplicated', true);
    },
  };
}
