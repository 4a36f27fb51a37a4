import { z } from 'zod';
import { durationMs, positiveInt } from '../config-kit.js';
import { isAddressOrRange } from './address-ranges.js';

/** The `logging`, `metrics` and `tracing` sections. */

export const LoggingConfigSchema = z
  .object({
    level: z
      .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
      .default('info')
      .describe('pino log level. Health, readiness and metrics requests log at debug.'),
  })
  .strict()
  .prefault({});

export const MetricsConfigSchema = z
  .object({
    enabled: z.boolean().default(true).describe('Serve Prometheus metrics.'),
    path: z.string().startsWith('/').default('/metrics').describe('Path of the metrics endpoint.'),
    listener: z
      .enum(['public', 'admin'])
      .default('public')
      .describe('Serve metrics on the public port, or only on the admin API listener (needs `admin.port`; no token asked).'),
    maxOperationLabels: positiveInt
      .default(200)
      .describe(
        'Distinct operation names kept as metric labels; later names are counted as `__other__` so clients cannot explode label cardinality.',
      ),
    maxClientLabels: positiveInt
      .default(100)
      .describe(
        'Distinct clients (principal `clientKey`) kept as the `client` label of `gateway_client_cost_total`; later clients are counted as `__other__` (sums by tier stay exact).',
      ),
    defaultMetrics: z.boolean().default(true).describe('Export Node.js process metrics (CPU, memory, event loop, GC).'),
  })
  .strict()
  .prefault({});

/** An IPv4/IPv6 address or CIDR range (`10.0.0.0/8`, `::1`), or one of proxy-addr's names. */
const addressOrRange = z
  .string()
  .min(1)
  .refine(
    (value) => isAddressOrRange(value),
    'an IP address, a CIDR range (`10.0.0.0/8`) or one of `loopback`, `linklocal`, `uniquelocal`',
  );

export const TracingConfigSchema = z
  .object({
    enabled: z
      .boolean()
      .default(false)
      .describe('Export OpenTelemetry traces (OTLP/HTTP). Off: no tracer provider is registered and no span is made.'),
    endpoint: z
      .url({ protocol: /^https?$/ })
      .default('http://localhost:4318/v1/traces')
      .describe(
        'OTLP/HTTP traces URL, e.g. `http://jaeger:4318/v1/traces` (`OTEL_EXPORTER_OTLP_HEADERS` adds headers, e.g. a collector token).',
      ),
    serviceName: z.string().min(1).default('federation-gateway').describe("`service.name` of the gateway's spans."),
    sampleRatio: z
      .number()
      .min(0)
      .max(1)
      .default(1)
      .describe('Share of new traces recorded (0..1). A trusted incoming `traceparent` keeps its own sampled flag (parent-based).'),
    trustIncoming: z
      .union([z.enum(['always', 'never', 'trustedProxies']), z.array(addressOrRange).min(1)])
      .default('trustedProxies')
      .describe(
        'Whose `traceparent`/`tracestate` continue their trace: `always`, `never`, `trustedProxies` (only from a peer listed in `server.trustedProxies`; none by default), or a list of addresses / CIDR ranges of peers. Others start a new trace, so a client cannot choose trace ids or force sampling.',
      ),
    traceIdInExtensions: z
      .boolean()
      .default(false)
      .describe("Put the trace id in `extensions.traceId` of every GraphQL response (it is always in the request's log line)."),
    exportDelayMs: durationMs
      .default(5_000)
      .describe('Longest a finished span waits in memory before it is exported (batch delay); batches of 512 go sooner.'),
    exportTimeoutMs: durationMs
      .default(10_000)
      .describe('Longest one export may take, retries included; also the longest a shutdown waits for the last spans to go out.'),
    maxQueueSize: positiveInt
      .default(2_048)
      .describe('Finished spans kept while the collector is slow or down; more are dropped, never waited for.'),
  })
  .strict()
  .prefault({})
  .describe('OpenTelemetry tracing (see "Observability" → "Tracing").');

export type LoggingConfig = z.output<typeof LoggingConfigSchema>;
export type MetricsConfig = z.output<typeof MetricsConfigSchema>;
export type TracingConfig = z.output<typeof TracingConfigSchema>;
