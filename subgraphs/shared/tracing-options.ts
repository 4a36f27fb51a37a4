/*
 * When a demo subgraph traces, without the OpenTelemetry SDK: tracing.ts (and the SDK) is loaded
 * only when tracing is on.
 */

export interface SubgraphTracingOptions {
  /** OTLP/HTTP traces URL, e.g. `http://jaeger:4318/v1/traces`. */
  endpoint: string;
  /** `service.name` of the spans. */
  serviceName: string;
  /** Batch delay before export. @default 1000 */
  exportDelayMs?: number;
}

/** The tracing a demo subgraph gets from its environment: on when `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set. */
export function tracingFromEnv(name: string, env: NodeJS.ProcessEnv = process.env): SubgraphTracingOptions | undefined {
  const endpoint = env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'];
  if (!endpoint) return undefined;
  return { endpoint, serviceName: env['OTEL_SERVICE_NAME'] || `${name}-subgraph` };
}
