import { z } from 'zod';
import { durationMs, port, positiveInt } from '../config-kit.js';

/** The `server` section: listening, CORS, body and header limits, slow-client timeouts, overload caps. */

const CorsSchema = z
  .object({
    origins: z
      .array(z.string().min(1))
      .default([])
      .describe(
        'Origins allowed to call the gateway from a browser (exact `scheme://host[:port]`, or `*` for any). Empty: no CORS headers are sent, so browsers refuse cross-origin calls.',
      ),
    credentials: z
      .boolean()
      .default(false)
      .describe('Send `Access-Control-Allow-Credentials: true` (cookies and HTTP auth from browsers). Refused together with a `*` origin.'),
    methods: z.array(z.string().min(1)).default(['GET', 'POST']).describe('Methods announced in `Access-Control-Allow-Methods`.'),
    maxAgeSeconds: z
      .number()
      .int()
      .nonnegative()
      .default(600)
      .describe('How long a browser may cache a preflight answer (`Access-Control-Max-Age`).'),
  })
  .strict()
  .refine((cors) => !(cors.credentials && cors.origins.includes('*')), {
    path: ['credentials'],
    message: 'cannot be true with a `*` origin in server.cors.origins: list the origins allowed to send credentials',
  })
  .prefault({});

export const ServerConfigSchema = z
  .object({
    host: z.string().min(1).default('0.0.0.0').describe('Listen address.'),
    port: port.default(4000).describe('Listen port (0 picks a free port).'),
    bodyLimitBytes: positiveInt.default(1_048_576).describe('Largest request body accepted; larger bodies get 413 PAYLOAD_TOO_LARGE.'),
    shutdownTimeoutMs: durationMs
      .default(15_000)
      .describe(
        'On SIGTERM/SIGINT, how long in-flight requests may take before connections are cut (longer than resilience.requestDeadlineMs, so an admitted request can finish).',
      ),
    heapGrowingPercent: z
      .number()
      .int()
      .min(0)
      .max(1_000)
      .default(100)
      .describe(
        "How far V8 lets the heap grow past what is live before its next full collection, in percent (V8's `--heap-growing-percent`, set at start-up): 100 lets it double. 0 leaves it to V8, which grows the heap up to 4× when collecting is cheap. Measured under load (docs/performance.md): 100 holds peak RSS about a third lower than 0 for about the same CPU. A restart applies a change.",
      ),
    parallelScavenge: z
      .boolean()
      .default(false)
      .describe(
        "Whether V8 collects the young generation on several threads (V8's `--parallel-scavenge`, set at start-up). Off: one thread, which under load costs less CPU in all (measured on the varied benchmark page: about 6% less of the gateway's CPU, the same memory, docs/performance.md) for somewhat longer pauses; the same choice suits a gateway under a CPU limit. A restart applies a change.",
      ),
    requestIdHeader: z.string().min(1).default('x-request-id').describe('Header that carries the request id in, out, and on to subgraphs.'),
    cors: CorsSchema.describe('Cross-origin (CORS) access for browsers; preflights are answered before auth and CSRF checks.'),
    trustedProxies: z
      .array(z.string().min(1))
      .default([])
      .describe(
        'Addresses or CIDR ranges of proxies in front of the gateway. Only when the peer is one of them is `X-Forwarded-For` used for the client IP (the rightmost address that is not a trusted proxy). Empty: the peer address is the client IP.',
      ),
    // Slow-client protection (see the README's "Security" section for the defaults of peers).
    headersTimeoutMs: durationMs
      .default(10_000)
      .describe(
        'Longest time a client may take to send the request line and headers (slowloris); then 408 REQUEST_TIMEOUT and the connection is closed.',
      ),
    requestTimeoutMs: durationMs
      .default(30_000)
      .describe(
        'Longest time a client may take to send a whole request, body included (slow POST); then 408 REQUEST_TIMEOUT and the connection is closed. Counts only the upload: the answer may take longer (resilience.requestDeadlineMs).',
      ),
    keepAliveTimeoutMs: durationMs
      .default(72_000)
      .describe(
        'An idle keep-alive connection is closed after this long (longer than the usual 60 s idle timeout of load balancers, so they close first).',
      ),
    maxRequestsPerSocket: z
      .number()
      .int()
      .min(0)
      .default(1_000)
      .describe(
        'Requests served on one connection; the last answer carries `Connection: close`, so clients reconnect and spread over instances (0: no limit).',
      ),
    maxConnections: z
      .number()
      .int()
      .min(0)
      .default(10_000)
      .describe(
        'Open client connections at once; a connection over the cap is closed as soon as it is accepted (0: no cap). Keep it under the file-descriptor limit.',
      ),
    maxInFlightRequests: z
      .number()
      .int()
      .min(0)
      .default(1_000)
      .describe(
        'Requests being handled at once (probes not counted); more get 503 OVERLOADED with `Retry-After` before any auth or parsing work (0: no cap). `/health`, `/ready` and the metrics path are always answered.',
      ),
    overloadRetryAfterSeconds: positiveInt.default(1).describe('`Retry-After` of a 503 OVERLOADED answer.'),
    maxHeaderBytes: positiveInt
      .default(16_384)
      .describe('Largest request line plus headers accepted; larger get 431 HEADERS_TOO_LARGE and the connection is closed.'),
    // The HTTP edge (docs/security.md, "The HTTP edge").
    lingeringTimeMs: durationMs
      .default(30_000)
      .describe(
        'After an answer sent before the request body arrived (413, 431, 401 ...), how long the rest of the body is read and ' +
          'discarded at most, so the client reads its answer instead of a reset (nginx lingering_time).',
      ),
    lingeringTimeoutMs: durationMs
      .default(5_000)
      .describe(
        'While draining after such an answer, the longest wait for the next bytes before the connection is closed ' +
          '(nginx lingering_timeout).',
      ),
    lingeringMaxBytes: positiveInt
      .default(134_217_728)
      .describe('While draining after such an answer, the most bytes read and discarded before the connection is closed.'),
    minBodyRateBytesPerSecond: z
      .number()
      .int()
      .min(0)
      .default(500)
      .describe(
        'Slowest average rate a request body may arrive at once server.bodyRateGraceMs have passed; slower gets 408 REQUEST_TIMEOUT ' +
          'and the connection is closed (0: no minimum).',
      ),
    bodyRateGraceMs: durationMs
      .default(5_000)
      .describe('Time a request body may take before server.minBodyRateBytesPerSecond is enforced.'),
    readinessDetail: z
      .boolean()
      .default(false)
      .describe(
        '`/ready` lists subgraphs and replicas with their URLs, breakers, REST routes, the instance, the supergraph and Redis, ' +
          'and `/health` the breakers; off: both answer their status only.',
      ),
  })
  .strict()
  .refine((server) => server.headersTimeoutMs <= server.requestTimeoutMs, {
    path: ['headersTimeoutMs'],
    message: 'must not be longer than server.requestTimeoutMs (the headers are part of the request)',
  })
  .prefault({});

export type ServerConfig = z.output<typeof ServerConfigSchema>;
