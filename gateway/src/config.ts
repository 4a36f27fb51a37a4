import { readFileSync } from 'node:fs';
import { isAddressOrRange } from './observability/address-ranges.js';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

/**
 * The whole gateway configuration: one zod schema, every default in this file.
 *
 * Sources, later wins: defaults → YAML file (`--config FILE` or `GATEWAY_CONFIG`) → environment
 * variables listed in {@link ENV_OVERRIDES} → `SUBGRAPH_<NAME>_URL`. Unknown keys are errors, so a
 * typo is reported instead of silently ignored. The README's config table is generated from this
 * schema (`npm run docs`) and a test keeps it in sync.
 */

const port = z.number().int().min(0).max(65_535);
const positiveInt = z.number().int().positive();

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

const ServerSchema = z
  .object({
    host: z.string().min(1).default('0.0.0.0').describe('Listen address.'),
    port: port.default(4000).describe('Listen port (0 picks a free port).'),
    bodyLimitBytes: positiveInt.default(1_048_576).describe('Largest request body accepted; larger bodies get 413 PAYLOAD_TOO_LARGE.'),
    shutdownTimeoutMs: positiveInt
      .default(15_000)
      .describe(
        'On SIGTERM/SIGINT, how long in-flight requests may take before connections are cut (longer than resilience.requestDeadlineMs, so an admitted request can finish).',
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
    headersTimeoutMs: positiveInt
      .default(10_000)
      .describe(
        'Longest time a client may take to send the request line and headers (slowloris); then 408 REQUEST_TIMEOUT and the connection is closed.',
      ),
    requestTimeoutMs: positiveInt
      .default(30_000)
      .describe(
        'Longest time a client may take to send a whole request, body included (slow POST); then 408 REQUEST_TIMEOUT and the connection is closed. Counts only the upload: the answer may take longer (resilience.requestDeadlineMs).',
      ),
    keepAliveTimeoutMs: positiveInt
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
    // The HTTP edge (README "Security" → "The HTTP edge").
    lingeringTimeMs: positiveInt
      .default(30_000)
      .describe(
        'After an answer sent before the request body arrived (413, 431, 401 ...), how long the rest of the body is read and ' +
          'discarded at most, so the client reads its answer instead of a reset (nginx lingering_time).',
      ),
    lingeringTimeoutMs: positiveInt
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
    bodyRateGraceMs: positiveInt
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

const BatchingSchema = z
  .object({
    enabled: z
      .boolean()
      .default(false)
      .describe(
        'Accept a JSON array of operations in one POST. Off: an array body is 400 BATCHING_NOT_ENABLED. Each operation is authorized, costed and charged on its own, in order.',
      ),
    maxOperations: positiveInt
      .default(10)
      .describe('Most operations in one batch; a longer array is 400 BATCH_TOO_LARGE before any operation is parsed or charged.'),
  })
  .strict()
  .prefault({});

const ApqSchema = z
  .object({
    enabled: z
      .boolean()
      .default(true)
      .describe(
        "Automatic persisted queries (Apollo's protocol): a client may send `extensions.persistedQuery.sha256Hash` instead of the document once it has registered it. Off: such requests get 400 PERSISTED_QUERY_NOT_SUPPORTED.",
      ),
    ttlSeconds: positiveInt.default(86_400).describe('How long a registered document is kept (in Redis, and in memory).'),
    cacheMaxBytes: positiveInt
      .default(8 * 1024 * 1024)
      .describe(
        'Byte limit of the in-memory store of registered documents (in front of Redis when Redis is configured, least recently used first out).',
      ),
    keyPrefix: z
      .string()
      .default('apq:')
      .describe('Prefix of registered documents in Redis, after `redis.keyPrefix`; instances with the same prefixes share registrations.'),
    storeTimeoutMs: positiveInt
      .default(200)
      .describe(
        'Longest a Redis lookup may take; a slow or failed lookup is a miss (PERSISTED_QUERY_NOT_FOUND: the client sends the document again), never a failed request.',
      ),
  })
  .strict()
  .prefault({});

const TrustedDocumentsSchema = z
  .object({
    mode: z
      .enum(['off', 'allow-list', 'log-unknown'])
      .default('off')
      .describe(
        '`allow-list`: only documents in the manifest run (by `documentId`, persisted-query hash, or a full `query` whose hash is listed), others are 400 PERSISTED_QUERY_NOT_IN_LIST before parsing; `log-unknown`: everything runs, unlisted documents are logged and counted; `off`: a manifest, if given, serves its documents by id and nothing is refused or logged.',
      ),
    manifest: z
      .string()
      .min(1)
      .optional()
      .describe(
        'Persisted-query manifest file (Apollo format `apollo-persisted-query-manifest` v1; each `id` the SHA-256 of its `body`). Read at start: a malformed file or a wrong id stops start-up.',
      ),
    requireId: z
      .boolean()
      .default(false)
      .describe(
        'In `allow-list` mode, refuse full `query` strings even when listed (400 PERSISTED_QUERY_ID_REQUIRED): clients must send the id.',
      ),
    bypass: z
      .object({
        tiers: z.array(z.string().min(1)).default([]).describe('Tiers whose callers may send any document in `allow-list` mode.'),
        scopes: z
          .array(z.string().min(1))
          .default([])
          .describe('Holders of any of these scopes may send any document in `allow-list` mode.'),
      })
      .strict()
      .prefault({})
      .describe('Callers exempt from the allow-list (e.g. internal tools); their unlisted documents are counted as `bypass`.'),
  })
  .strict()
  .prefault({})
  .superRefine((trusted, ctx) => {
    if (trusted.mode !== 'off' && !trusted.manifest) {
      ctx.addIssue({ code: 'custom', path: ['manifest'], message: `mode ${trusted.mode} needs a manifest file` });
    }
  });

const GraphqlSchema = z
  .object({
    path: z.string().startsWith('/').default('/graphql').describe('Path of the GraphQL endpoint.'),
    production: z
      .boolean()
      .optional()
      .describe(
        'Production mode: the default of `graphql.introspection`, `graphql.hideSuggestions` and `graphql.maskSubgraphErrors`. Unset: on when `NODE_ENV=production`.',
      ),
    introspection: z
      .union([
        z.boolean(),
        z
          .object({
            tiers: z.array(z.string().min(1)).default([]).describe('Tiers allowed to introspect.'),
            scopes: z.array(z.string().min(1)).default([]).describe('Holders of any of these scopes may introspect.'),
          })
          .strict(),
      ])
      .optional()
      .describe(
        'Who may run introspection (`__schema`, `__type`; `__typename` is always allowed): `true` everyone, `false` no one, or `{tiers, scopes}` callers whose tier is listed or who hold one of the scopes. Others get INTROSPECTION_DISABLED before anything runs. Unset: `false` in production mode, else `true`.',
      ),
    hideSuggestions: z
      .boolean()
      .optional()
      .describe(
        'Drop "Did you mean ...?" field suggestions from validation errors (they reveal the schema). Unset: on in production mode.',
      ),
    maskSubgraphErrors: z
      .boolean()
      .optional()
      .describe(
        'Replace the message of every error that comes from a subgraph with a generic one (keeping `extensions.code` and `extensions.serviceName`); the original is logged with the request id. Unset: on in production mode.',
      ),
    maxTokens: positiveInt
      .default(1_000)
      .describe('Most lexical tokens in a GraphQL document: parsing stops there with TOO_MANY_TOKENS (400).'),
    maxDirectives: positiveInt
      .default(50)
      .describe('Most directives in a GraphQL document (all fields and fragments together): more is TOO_MANY_DIRECTIVES (400).'),
    landingPage: z.boolean().default(false).describe("Serve Apollo Sandbox to browsers on GET (loads assets from Apollo's CDN)."),
    csrfRequiredHeaders: z
      .array(z.string().min(1))
      .default(['x-apollo-operation-name', 'apollo-require-preflight', 'graphql-preflight'])
      .describe(
        'A GET request must carry one of these headers (or a non-simple content type), so a browser cannot send it cross-site without a CORS preflight.',
      ),
    batching: BatchingSchema.describe('Batched operations: a JSON array of operations in one POST.'),
    apq: ApqSchema.describe('Automatic persisted queries (document registered by hash, shared through Redis when configured).'),
    trustedDocuments: TrustedDocumentsSchema.describe('Trusted documents (persisted-query allow-list) from a manifest file.'),
  })
  .strict()
  .prefault({});

const SupergraphSchema = z
  .object({
    path: z
      .string()
      .min(1)
      .default('schema/supergraph.graphql')
      .describe('Supergraph SDL file to serve (relative to the working directory).'),
    watch: z.boolean().default(true).describe('Reload the supergraph when the file changes.'),
    pollIntervalMs: positiveInt
      .default(1_000)
      .describe('How often the file is checked for changes (polling survives atomic renames and symlink swaps).'),
  })
  .strict()
  .prefault({});

/**
 * Resilience settings of one subgraph. Each group is declared once, without defaults; the defaults
 * live in {@link SUBGRAPH_DEFAULTS} and make `resilience.subgraphDefaults`, and the same fields,
 * all optional, make the per-subgraph overrides (`subgraphs.<name>.breaker.volumeThreshold: 5`).
 */
const BreakerFields = {
  enabled: z.boolean().describe('Run calls through a circuit breaker (opossum).'),
  errorThresholdPercentage: z.number().min(1).max(100).describe('Failure percentage in the rolling window above which the breaker opens.'),
  rollingWindowMs: positiveInt.describe('Length of the rolling window of call statistics (10 buckets).'),
  volumeThreshold: z
    .number()
    .int()
    .min(0)
    .describe('Calls the window must hold before the breaker may open (a few failures of a quiet subgraph do not open it).'),
  resetTimeoutMs: positiveInt.describe('How long an open breaker waits before letting one probe call through (half-open).'),
};
const BulkheadFields = {
  maxConcurrent: positiveInt.describe('Calls to this subgraph in flight at once; calls over the cap fail fast (`bulkhead_rejected`).'),
};
const RetryFields = {
  maxRetries: z
    .number()
    .int()
    .min(0)
    .max(5)
    .describe('Retries of a query after a connection error or a 502/503/504 (never mutations, never timeouts).'),
  baseDelayMs: positiveInt.describe('Back-off before the first retry; doubles per retry, with full jitter.'),
  maxDelayMs: positiveInt.describe('Upper bound of one back-off.'),
};
const FallbackFields = {
  cache: z.boolean().describe('Keep successful query responses and serve them (stale-if-error) when this subgraph fails.'),
  cacheTtlMs: positiveInt.describe('How long a kept response may be served after it was stored.'),
  refreshAfterMs: z
    .number()
    .int()
    .min(0)
    .describe(
      'A kept copy younger than this is not rewritten by this instance (bounds cache writes for hot queries; 0: write every answer).',
    ),
};
const SubgraphResilienceFields = {
  timeoutMs: positiveInt.describe('Timeout of one call (one attempt) to the subgraph.'),
  connections: positiveInt.describe('Size of the keep-alive connection pool to this subgraph.'),
  dedupe: z.boolean().describe('Identical concurrent queries (same document, variables and forwarded identity) share one call.'),
  public: z.boolean().describe('Responses are the same for every caller: cache and dedupe keys leave the identity out.'),
  publicRootFields: z
    .array(z.string().min(1))
    .describe(
      'Root fields (e.g. `topProducts`) whose responses are the same for every caller; a call is public when all its root fields are.',
    ),
};

/** Replicas of one subgraph (`subgraphs.<name>.upstreams`) and how calls are spread over them. */
const BALANCING_STRATEGIES = ['round_robin', 'weighted_round_robin', 'least_outstanding', 'consistent_hash'] as const;
const LoadBalancingFields = {
  strategy: z
    .enum(BALANCING_STRATEGIES)
    .describe(
      'How a call picks a replica: `round_robin`, `weighted_round_robin` (by `upstreams[].weight`), `least_outstanding` (fewest calls in flight per weight) or `consistent_hash` (by `hashHeader`; sticky, few keys move when a replica comes or goes).',
    ),
};
const HealthCheckFields = {
  enabled: z.boolean().describe('Probe each replica of a subgraph with two or more `upstreams` (a single-URL subgraph is never probed).'),
  intervalMs: positiveInt.describe('Time between two probes of one replica.'),
  timeoutMs: positiveInt.describe('A probe with no answer by then fails.'),
  healthyThreshold: positiveInt.describe(
    'Passing probes in a row that bring an unhealthy replica back into rotation (and end an ejection).',
  ),
  unhealthyThreshold: positiveInt.describe('Failing probes in a row that take a replica out of rotation.'),
};
const EjectionFields = {
  consecutiveFailures: z
    .number()
    .int()
    .min(0)
    .describe('Failed calls in a row (network error, timeout, 5xx) that eject a replica for a back-off; 0: no passive ejection.'),
  baseEjectionMs: positiveInt.describe(
    'Length of a first ejection; it doubles with each ejection until the replica serves a call successfully.',
  ),
  maxEjectionMs: positiveInt.describe('Longest ejection.'),
};
const hashHeader = z
  .string()
  .min(1)
  .toLowerCase()
  .optional()
  .describe(
    "Header whose value `consistent_hash` hashes: the subgraph request's (e.g. `x-user-id`, set from the principal), else the client's. Calls without it go round robin.",
  );
const healthCheckPath = z
  .string()
  .startsWith('/')
  .optional()
  .describe(
    "Health check: `GET` this path on the replica's origin and expect a 2xx. Unset: `POST {__typename}` to the replica's URL, expecting `data.__typename`.",
  );

/** `loadBalancing` of one subgraph or REST route: any field of `resilience.subgraphDefaults.loadBalancing`, overridden. */
const LoadBalancingOverrideSchema = z
  .object({
    ...z.object(LoadBalancingFields).partial().shape,
    hashHeader,
    healthCheck: z
      .object({ ...z.object(HealthCheckFields).partial().shape, path: healthCheckPath })
      .strict()
      .optional(),
    ejection: z.object(EjectionFields).partial().strict().optional(),
  })
  .strict();

const SUBGRAPH_DEFAULTS = {
  timeoutMs: 5_000,
  connections: 64,
  dedupe: true,
  public: false,
  publicRootFields: [] as string[],
  breaker: { enabled: true, errorThresholdPercentage: 50, rollingWindowMs: 10_000, volumeThreshold: 10, resetTimeoutMs: 10_000 },
  bulkhead: { maxConcurrent: 100 },
  retry: { maxRetries: 2, baseDelayMs: 25, maxDelayMs: 250 },
  fallback: { cache: true, cacheTtlMs: 300_000, refreshAfterMs: 1_000 },
  loadBalancing: {
    strategy: 'round_robin' as const,
    healthCheck: { enabled: true, intervalMs: 5_000, timeoutMs: 1_000, healthyThreshold: 2, unhealthyThreshold: 2 },
    ejection: { consecutiveFailures: 3, baseEjectionMs: 5_000, maxEjectionMs: 60_000 },
  },
};

/** `fields` with each default of `defaults` applied. */
function withDefaults<S extends Record<string, z.ZodType>>(fields: S, defaults: { [K in keyof S]: z.output<S[K]> }) {
  return Object.fromEntries(
    Object.entries(fields).map(([key, schema]) => [key, (schema as z.ZodType).default(defaults[key as keyof S] as never)]),
  ) as { [K in keyof S]: z.ZodDefault<S[K]> };
}

function defaultedGroup<S extends Record<string, z.ZodType>>(fields: S, defaults: { [K in keyof S]: z.output<S[K]> }) {
  return z
    .object(withDefaults(fields, defaults))
    .strict()
    .prefault({} as never);
}

const SubgraphDefaultsSchema = z
  .object({
    ...withDefaults(SubgraphResilienceFields, SUBGRAPH_DEFAULTS),
    breaker: defaultedGroup(BreakerFields, SUBGRAPH_DEFAULTS.breaker),
    bulkhead: defaultedGroup(BulkheadFields, SUBGRAPH_DEFAULTS.bulkhead),
    retry: defaultedGroup(RetryFields, SUBGRAPH_DEFAULTS.retry),
    fallback: defaultedGroup(FallbackFields, SUBGRAPH_DEFAULTS.fallback),
    loadBalancing: z
      .object({
        ...withDefaults(LoadBalancingFields, { strategy: SUBGRAPH_DEFAULTS.loadBalancing.strategy }),
        hashHeader,
        healthCheck: z
          .object({ ...withDefaults(HealthCheckFields, SUBGRAPH_DEFAULTS.loadBalancing.healthCheck), path: healthCheckPath })
          .strict()
          .prefault({}),
        ejection: defaultedGroup(EjectionFields, SUBGRAPH_DEFAULTS.loadBalancing.ejection),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .prefault({});

const UpstreamSchema = z
  .object({
    url: z.url({ protocol: /^https?$/ }).describe('URL of one replica of the subgraph.'),
    weight: positiveInt
      .max(1_000)
      .default(1)
      .describe(
        'Its share under `weighted_round_robin`, of hash-ring points under `consistent_hash`, its capacity under `least_outstanding`.',
      ),
  })
  .strict();

const SubgraphSchema = z
  .object({
    url: z.url().optional().describe('Overrides the URL the supergraph gives for this subgraph.'),
    upstreams: z
      .array(UpstreamSchema)
      .min(1)
      .optional()
      .describe(
        'Replicas of this subgraph, instead of `url`; with two or more, calls are balanced over them (see "Replicas and load balancing"). `SUBGRAPH_<NAME>_URL` with commas sets it.',
      ),
    loadBalancing: LoadBalancingOverrideSchema.optional(),
    ...z.object(SubgraphResilienceFields).partial().shape,
    breaker: z.object(BreakerFields).partial().strict().optional(),
    bulkhead: z.object(BulkheadFields).partial().strict().optional(),
    retry: z.object(RetryFields).partial().strict().optional(),
    fallback: z
      .object({
        ...z.object(FallbackFields).partial().shape,
        static: z
          .string()
          .min(1)
          .optional()
          .describe(
            'JSON file of static fallbacks for this subgraph (see `schema/fallbacks/`), served when it fails and no cached copy exists.',
          ),
      })
      .strict()
      .optional(),
  })
  .strict()
  .superRefine((subgraph, ctx) => {
    if (subgraph.url !== undefined && subgraph.upstreams !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['upstreams'], message: 'give either url or upstreams, not both' });
    }
    const seen = new Set<string>();
    subgraph.upstreams?.forEach(({ url }, index) => {
      if (seen.has(url)) ctx.addIssue({ code: 'custom', path: ['upstreams', index, 'url'], message: `duplicate replica ${url}` });
      seen.add(url);
    });
  });

const ResilienceSchema = z
  .object({
    enabled: z
      .boolean()
      .default(true)
      .describe(
        'Timeouts, breakers, bulkheads, retries, dedupe and fallbacks around subgraph calls; false calls subgraphs plainly (used by the benchmark).',
      ),
    requestDeadlineMs: positiveInt
      .default(10_000)
      .describe('Deadline of one GraphQL request: no subgraph attempt or retry starts after it, and attempts are cut at it.'),
    identityHeaders: z
      .array(z.string().min(1).toLowerCase())
      .default(['authorization', 'x-api-key', 'x-user-id', 'x-user-tier', 'x-user-scopes', 'x-auth-kind'])
      .describe('Headers of the outgoing subgraph request that identify the caller; their values are part of cache and dedupe keys.'),
    cacheMaxBytes: positiveInt
      .default(64 * 1024 * 1024)
      .describe('Byte limit of the in-memory fallback cache (used when no Redis is configured).'),
    cacheReadTimeoutMs: positiveInt
      .default(200)
      .describe('How long a fallback lookup may wait for the cache (Redis) before it counts as a miss.'),
    subgraphDefaults: SubgraphDefaultsSchema,
    sharedBreakers: z
      .object({
        enabled: z
          .boolean()
          .default(false)
          .describe(
            'Share circuit breaker state through Redis: when one instance opens (or closes) a breaker, the others follow within the delay below, instead of each paying its own failures. Off by default: it needs Redis, and it assumes every instance sees a subgraph the same way (one instance cut off from a subgraph by its own network would open the breaker for all).',
          ),
        resyncIntervalMs: positiveInt
          .default(5_000)
          .describe(
            'How often each instance also reads the shared state (one GET per breaker), which bounds the delay when a pub/sub message is lost (e.g. during a reconnect).',
          ),
        maxMessageAgeMs: positiveInt
          .default(5_000)
          .describe(
            "A breaker message older than this (by the sender's clock) is ignored as stale: it arrived too late to describe the present.",
          ),
      })
      .strict()
      .prefault({})
      .describe('Breaker state shared across gateway instances (see "Scaling out").'),
  })
  .strict()
  .prefault({});

/**
 * REST passthrough routes (legacy APIs behind the same auth, budget, breakers and observability).
 * Each route is a path prefix proxied, streaming, to one upstream origin.
 */
const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
const pathPrefix = z
  .string()
  .regex(/^\/[A-Za-z0-9._~!$&'()*+,;=:@/-]*$/, 'a path starting with `/`, of unreserved characters (no `%`, `?`, `#`, `\\`)')
  .refine((value) => !value.split('/').some((segment) => segment === '.' || segment === '..'), 'no `.` or `..` segments')
  .transform((value) => (value.length > 1 ? value.replace(/\/+$/, '') : value));

const upstreamOrigin = z
  .url({ protocol: /^https?$/ })
  .refine((value) => new URL(value).pathname === '/', 'an origin only (put a path in `rewrite`)');

const RestRouteSchema = z
  .object({
    prefix: pathPrefix.describe('Path prefix the route serves, e.g. `/legacy/users` (also matches everything below it).'),
    upstream: upstreamOrigin
      .optional()
      .describe('Origin the route forwards to, e.g. `http://users:4001` (TLS certificates are verified). Give this or `upstreams`.'),
    upstreams: z
      .array(
        z
          .object({
            url: upstreamOrigin.describe('Origin of one replica of the service.'),
            weight: positiveInt.max(1_000).default(1).describe('Its share of requests (see `subgraphs.<name>.upstreams`).'),
          })
          .strict(),
      )
      .min(1)
      .optional()
      .describe(
        'Replicas of the service, instead of `upstream`; with two or more, requests are balanced as for subgraphs (active checks only with `loadBalancing.healthCheck.path`).',
      ),
    loadBalancing: LoadBalancingOverrideSchema.optional().describe(
      "Overrides of `resilience.subgraphDefaults.loadBalancing` for this route's replicas.",
    ),
    rewrite: pathPrefix
      .optional()
      .describe('Upstream path that replaces `prefix` (`/legacy/users/7` → `/api/v1/users/7`); unset: the path is forwarded as is.'),
    methods: z.array(z.enum(HTTP_METHODS)).min(1).default(['GET', 'HEAD']).describe('Methods allowed; others get 405 with `Allow`.'),
    auth: z
      .object({
        mode: z
          .enum(['required', 'optional'])
          .default('required')
          .describe('`required`: anonymous callers get 401; `optional`: anonymous callers pass (as far as `auth.required` allows).'),
        scopes: z.array(z.string().min(1)).default([]).describe('Scopes the caller must all hold (403 otherwise).'),
        forwardAuthorization: z
          .boolean()
          .default(false)
          .describe("Send the client's `Authorization` header on to the upstream (API keys never are)."),
      })
      .strict()
      .prefault({}),
    cost: z
      .number()
      .int()
      .min(0)
      .default(1)
      .describe("Budget points charged per request, to the same budget as the client's GraphQL operations (0: not charged)."),
    timeoutMs: positiveInt
      .default(30_000)
      .describe(
        "Longest wait for the upstream's response headers, and for each chunk of a body after that (a long download is not cut while bytes flow).",
      ),
    retries: z
      .object(withDefaults(RetryFields, { maxRetries: 1, baseDelayMs: 25, maxDelayMs: 250 }))
      .strict()
      .prefault({})
      .describe(
        'Retries after a connection error or a 502/503/504, for GET, HEAD and OPTIONS only (requests with bodies are streamed and never replayed).',
      ),
    breaker: z
      .string()
      .min(1)
      .optional()
      .describe(
        "Circuit breaker name: a subgraph's name shares that subgraph's breaker; unset: the route's own (`rest:<prefix>`, with `resilience.subgraphDefaults.breaker` settings).",
      ),
    maxConcurrent: positiveInt.default(100).describe('Requests in flight to this route at once; more fail fast with 503 (bulkhead).'),
    maxBodyBytes: positiveInt
      .optional()
      .describe(
        'Largest request body forwarded: a larger `Content-Length` is 413 before any upstream call, a longer chunked body is cut and answered 413. Unset: no limit (the upstream decides).',
      ),
    fallback: z
      .object({
        cache: z.boolean().default(false).describe('Keep 200 answers to GET and serve them (stale-if-error) when the upstream fails.'),
        public: z
          .boolean()
          .default(false)
          .describe('Answers are the same for every caller: one cached copy for all; otherwise copies are kept per principal.'),
        ttlMs: positiveInt.default(300_000).describe('How long a kept answer may be served.'),
        maxBodyBytes: positiveInt.default(1_048_576).describe('Larger answers are streamed but not kept.'),
      })
      .strict()
      .prefault({}),
  })
  .strict();

const RestSchema = z
  .object({
    routes: z
      .array(RestRouteSchema)
      .default([])
      .describe('REST passthrough routes; a path under no route is 404 without any upstream call.'),
  })
  .strict()
  .prefault({})
  .superRefine((rest, ctx) => {
    const seen = new Set<string>();
    rest.routes.forEach((route, index) => {
      if (seen.has(route.prefix))
        ctx.addIssue({ code: 'custom', path: ['routes', index, 'prefix'], message: `duplicate prefix ${route.prefix}` });
      seen.add(route.prefix);
      if ((route.upstream === undefined) === (route.upstreams === undefined)) {
        ctx.addIssue({ code: 'custom', path: ['routes', index, 'upstream'], message: 'give exactly one of upstream or upstreams' });
      }
      const origins = new Set<string>();
      route.upstreams?.forEach(({ url }, replica) => {
        if (origins.has(url))
          ctx.addIssue({ code: 'custom', path: ['routes', index, 'upstreams', replica, 'url'], message: `duplicate replica ${url}` });
        origins.add(url);
      });
    });
  });

export type RestRouteConfig = z.output<typeof RestRouteSchema>;
export type RestMethod = (typeof HTTP_METHODS)[number];

const redisUrl = z.string().regex(/^rediss?:\/\//, 'must start with redis:// or rediss://');

const RedisSchema = z
  .object({
    url: redisUrl.optional().describe('Redis URL of one server. Unset (and no `redis.cluster`): the gateway runs on its in-memory store.'),
    cluster: z
      .object({
        nodes: z
          .array(
            redisUrl.refine(
              (value) => URL.canParse(value) && new URL(value).port !== '',
              'a node is `redis://host:port` (the port is required)',
            ),
          )
          .min(1)
          .describe(
            'Seed nodes of a Redis Cluster (`redis://host:port`, comma-separated in the env variable); the others are discovered from them. Credentials and TLS (`rediss://`) are taken from the first. Exclusive with `redis.url`.',
          ),
      })
      .strict()
      .optional()
      .describe('Redis Cluster instead of one server (see "Scaling out").'),
    connectTimeoutMs: positiveInt.default(2_000).describe('Timeout of one connection attempt.'),
    commandTimeoutMs: positiveInt
      .default(1_000)
      .describe(
        'Longest any Redis command may take before it fails (a hung Redis must not hang requests); budgets and cache reads have shorter deadlines of their own.',
      ),
    keyPrefix: z
      .string()
      .regex(
        /^[^{}]*$/,
        "must not contain `{` or `}`: hash tags belong to the keys (a brace here would move every key into one cluster slot or split a client's keys)",
      )
      .default('gw:')
      .describe('Prefix of every key (and pub/sub channel) the gateway writes.'),
  })
  .strict()
  .superRefine((redis, ctx) => {
    if (redis.url !== undefined && redis.cluster !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['cluster'], message: 'give redis.url (one server) or redis.cluster (a cluster), not both' });
    }
  })
  .prefault({});

const LoggingSchema = z
  .object({
    level: z
      .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
      .default('info')
      .describe('pino log level. Health, readiness and metrics requests log at debug.'),
  })
  .strict()
  .prefault({});

const MetricsSchema = z
  .object({
    enabled: z.boolean().default(true).describe('Serve Prometheus metrics.'),
    path: z.string().startsWith('/').default('/metrics').describe('Path of the metrics endpoint.'),
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

const TracingSchema = z
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
    exportDelayMs: positiveInt
      .default(5_000)
      .describe('Longest a finished span waits in memory before it is exported (batch delay); batches of 512 go sooner.'),
    exportTimeoutMs: positiveInt
      .default(10_000)
      .describe('Longest one export may take, retries included; also the longest a shutdown waits for the last spans to go out.'),
    maxQueueSize: positiveInt
      .default(2_048)
      .describe('Finished spans kept while the collector is slow or down; more are dropped, never waited for.'),
  })
  .strict()
  .prefault({});

const CostSchema = z
  .object({
    enabled: z
      .boolean()
      .default(true)
      .describe('Estimate the cost of every operation before it runs (needed by the tier limits and the budget).'),
    defaultListSize: z
      .number()
      .int()
      .nonnegative()
      .default(10)
      .describe('Size assumed for a list field with no slicing argument and no `@listSize(assumedSize:)`.'),
    overridesPath: z
      .string()
      .min(1)
      .default('schema/costs.yaml')
      .describe('Per-field weights, list sizes and argument limits that win over the directives. A missing file means no overrides.'),
    watch: z
      .boolean()
      .default(true)
      .describe('Reload the overrides file when it changes (an invalid file is logged and the previous model kept).'),
    pollIntervalMs: positiveInt.default(1_000).describe('How often the overrides file is checked for changes.'),
    cacheSize: positiveInt
      .default(5_000)
      .describe('Estimates kept in memory (by document, operation and the variables that change the cost).'),
    explain: z
      .object({
        enabled: z
          .boolean()
          .default(true)
          .describe('Let clients ask for a dry run: the cost breakdown, without executing or charging anything.'),
        header: z
          .string()
          .min(1)
          .default('x-cost-explain')
          .describe('Request header that asks for the dry run (any value but `0` or `false`).'),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .prefault({});

const LimitSpecSchema = z.discriminatedUnion('kind', [
  z
    .object({
      name: z.string().regex(/^[\w.-]+$/),
      kind: z.literal('token_bucket'),
      capacity: positiveInt,
      refillPerSecond: z.number().positive(),
    })
    .strict(),
  z
    .object({
      name: z.string().regex(/^[\w.-]+$/),
      kind: z.literal('sliding_window'),
      limit: positiveInt,
      windowSeconds: positiveInt,
    })
    .strict(),
]);

const TierOverrideSchema = z
  .object({
    match: z.union([
      z.object({ operationName: z.string().min(1) }).strict(),
      z.object({ rootField: z.string().regex(/^\w+\.\w+$/, 'must be Type.field, e.g. Query.users') }).strict(),
    ]),
    maxCost: positiveInt.optional(),
    limits: z.array(LimitSpecSchema).default([]),
  })
  .strict();

const TierSchema = z
  .object({
    maxCost: positiveInt.describe('Largest estimated cost of one operation; above it: 400 COST_ESTIMATED_TOO_EXPENSIVE.'),
    maxDepth: positiveInt.describe('Deepest field nesting (a root field is depth 1).'),
    maxAliases: z.number().int().nonnegative().describe('Most aliased fields in one operation.'),
    maxRootFields: positiveInt.describe('Most fields selected on the root type.'),
    limits: z.array(LimitSpecSchema).describe('Budgets charged with the estimate; all must pass.'),
    overrides: z
      .array(TierOverrideSchema)
      .default([])
      .describe("Per operation name or root field: a lower `maxCost` and/or extra limits (added to the tier's: all must pass)."),
  })
  .strict()
  .superRefine((tier, ctx) => {
    // An operation under maxCost but over a limit's maximum would pass the check and never fit the budget.
    tier.limits.forEach((limit, index) => {
      const most = limit.kind === 'token_bucket' ? limit.capacity : limit.limit;
      if (most < tier.maxCost) {
        ctx.addIssue({
          code: 'custom',
          path: ['limits', index],
          message: `holds at most ${most} points, less than maxCost ${tier.maxCost}`,
        });
      }
    });
    const names = tier.limits.map((limit) => limit.name);
    for (const override of tier.overrides) names.push(...override.limits.map((limit) => limit.name));
    const repeated = names.filter((name, i) => names.indexOf(name) !== i);
    if (repeated.length)
      ctx.addIssue({
        code: 'custom',
        path: ['limits'],
        message: `limit names must be unique in a tier (they name the stored budget): ${repeated.join(', ')}`,
      });
  });

export type TierConfig = z.output<typeof TierSchema>;

const burst = (capacity: number, refillPerSecond: number) => ({ name: 'burst', kind: 'token_bucket' as const, capacity, refillPerSecond });

const RateLimitSchema = z
  .object({
    enabled: z.boolean().default(true).describe("Charge each operation's estimated cost to the client's budget (429 when spent)."),
    store: z
      .enum(['auto', 'memory', 'redis'])
      .default('auto')
      .describe("Where budgets live: `auto` is Redis when `redis.url` or `redis.cluster` is set, else this process's memory."),
    onStoreFailure: z
      .enum(['open', 'closed'])
      .default('open')
      .describe('Redis slow or down: `open` falls back to a per-instance in-memory limiter, `closed` answers 503 RATE_LIMIT_UNAVAILABLE.'),
    storeTimeoutMs: positiveInt.default(100).describe('Longest a budget call to Redis may take before the failure policy applies.'),
    retryStoreAfterMs: positiveInt
      .default(1_000)
      .describe('After a Redis failure, how long to stay on the failure policy before trying Redis again.'),
    headers: z
      .object({
        ietf: z.boolean().default(true).describe('Send `RateLimit-Policy` and `RateLimit` (IETF httpapi draft).'),
        legacy: z.boolean().default(true).describe('Send `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset`.'),
      })
      .strict()
      .prefault({}),
    extensions: z.boolean().default(true).describe('Put `extensions.cost` (requested and actual cost, throttle status) in every response.'),
    adaptive: z
      .object({
        enabled: z
          .boolean()
          .default(false)
          .describe(
            'Scale the refill rate of token-bucket limits down while a subgraph the operation uses is degraded, so clients slow down before the backend falls over.',
          ),
        openFactor: z.number().gt(0).max(1).default(0.25).describe("Refill factor while a subgraph's breaker is open."),
        halfOpenFactor: z.number().gt(0).max(1).default(0.5).describe("Refill factor while a subgraph's breaker is half-open."),
        latencyThresholdMs: positiveInt
          .optional()
          .describe(
            'A subgraph whose p95 latency over `latencyWindowMs` is above this counts as degraded. Unset: latency is not considered.',
          ),
        latencyFactor: z.number().gt(0).max(1).default(0.5).describe("Refill factor while a subgraph's p95 latency is over the threshold."),
        latencyWindowMs: positiveInt.default(30_000).describe('Window of recent subgraph calls the p95 latency is taken over.'),
        latencyMinSamples: positiveInt
          .default(20)
          .describe('Fewest calls in the window before the p95 counts (a few slow calls are not a trend).'),
        recoveryMs: z
          .number()
          .int()
          .min(0)
          .default(30_000)
          .describe('Once a subgraph is healthy again, its factor climbs back to 1 linearly over this time (0: at once).'),
      })
      .strict()
      .prefault({})
      .describe('Adaptive budgets: see "Cost and rate limits".'),
    defaultTier: z.string().min(1).default('free').describe('Tier applied to a principal whose tier has no entry in `tiers`.'),
    tiers: z
      .record(z.string().min(1), TierSchema)
      .default({
        anonymous: { maxCost: 500, maxDepth: 8, maxAliases: 10, maxRootFields: 5, limits: [burst(1_000, 10)], overrides: [] },
        free: {
          maxCost: 1_000,
          maxDepth: 10,
          maxAliases: 20,
          maxRootFields: 10,
          limits: [burst(2_000, 20), { name: 'daily', kind: 'sliding_window', limit: 200_000, windowSeconds: 86_400 }],
          overrides: [],
        },
        pro: { maxCost: 5_000, maxDepth: 15, maxAliases: 50, maxRootFields: 20, limits: [burst(10_000, 100)], overrides: [] },
        enterprise: { maxCost: 20_000, maxDepth: 20, maxAliases: 100, maxRootFields: 50, limits: [burst(50_000, 500)], overrides: [] },
      })
      .describe('Limits per tier (see "Cost and rate limits" for the defaults).'),
  })
  .strict()
  .superRefine((rateLimit, ctx) => {
    if (!rateLimit.tiers[rateLimit.defaultTier]) {
      ctx.addIssue({ code: 'custom', path: ['defaultTier'], message: `no tier named ${rateLimit.defaultTier} in rateLimit.tiers` });
    }
  })
  .prefault({});

/** JWS algorithms an issuer may allow. `none` is not one of them, whatever the config says. */
export const JWT_ALGORITHMS = [
  'HS256',
  'HS384',
  'HS512',
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
] as const;

const IssuerSchema = z
  .object({
    issuer: z.string().min(1).describe('Expected `iss` claim; a token is matched to its issuer entry by this value.'),
    audience: z
      .union([z.string().min(1), z.array(z.string().min(1)).min(1)])
      .optional()
      .describe('Expected `aud` (one of). Unset: `aud` is not checked.'),
    algorithms: z
      .array(z.enum(JWT_ALGORITHMS))
      .min(1)
      .describe('Allow-list of `alg` values for this issuer; anything else is refused (no `none`, no HS/RS confusion).'),
    secret: z.string().min(32, 'an HMAC secret must be at least 32 characters').optional().describe('HMAC secret (HS*).'),
    secretEnv: z.string().min(1).optional().describe('Name of an environment variable holding the HMAC secret.'),
    publicKey: z.string().min(1).optional().describe('Public key in PEM (SPKI) form.'),
    jwk: z.record(z.string(), z.unknown()).optional().describe('Public key as a JWK object.'),
    jwksUrl: z.url().optional().describe('JWKS URL; keys are cached, refreshed in the background and refetched on an unknown `kid`.'),
    jwks: z
      .object({
        cacheMaxAgeMs: positiveInt.default(600_000).describe('Keys older than this are refetched before use.'),
        cooldownMs: z
          .number()
          .int()
          .min(0)
          .default(30_000)
          .describe('At most one refetch per this interval, however many unknown `kid`s arrive.'),
        timeoutMs: positiveInt.default(5_000).describe('Timeout of one JWKS request.'),
        refreshIntervalMs: positiveInt.default(300_000).describe('Background refresh interval.'),
      })
      .strict()
      .prefault({}),
    clockToleranceSec: z.number().int().min(0).max(600).default(30).describe('Clock skew allowed on `exp` and `nbf`.'),
    requireExp: z.boolean().default(true).describe('Refuse tokens without `exp`.'),
    claims: z
      .object({
        id: z.string().min(1).default('sub').describe('Claim holding the principal id.'),
        tier: z.string().min(1).default('tier').describe('Claim holding the tier.'),
        scopes: z
          .array(z.string().min(1))
          .min(1)
          .default(['scope', 'scp', 'permissions'])
          .describe('Claims holding scopes, first present wins: a space-separated string or an array of strings.'),
      })
      .strict()
      .prefault({}),
    defaultTier: z.string().min(1).default('free').describe('Tier of a token without the tier claim.'),
  })
  .strict()
  .superRefine((issuer, ctx) => {
    const sources = (['secret', 'secretEnv', 'publicKey', 'jwk', 'jwksUrl'] as const).filter((k) => issuer[k] !== undefined);
    if (sources.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        message: `give exactly one key source (secret, secretEnv, publicKey, jwk or jwksUrl), got ${sources.length}`,
      });
      return;
    }
    const hmac = issuer.secret !== undefined || issuer.secretEnv !== undefined;
    const bad = issuer.algorithms.filter((alg) => alg.startsWith('HS') !== hmac);
    if (bad.length) {
      ctx.addIssue({
        code: 'custom',
        path: ['algorithms'],
        message: `${bad.join(', ')} cannot be used with ${hmac ? 'an HMAC secret' : 'a public key'} (HS* needs a secret, the others a public key)`,
      });
    }
  });

export type IssuerConfig = z.output<typeof IssuerSchema>;

const AuthSchema = z
  .object({
    required: z.boolean().default(false).describe('Refuse requests without a credential (401). Off: they are anonymous.'),
    maxTokenBytes: positiveInt.default(8_192).describe('Longer bearer tokens are refused before any parsing.'),
    realm: z.string().min(1).default('gateway').describe('Realm in `WWW-Authenticate` challenges.'),
    jwt: z
      .object({
        issuers: z.array(IssuerSchema).default([]).describe('Accepted token issuers (see the Authentication section).'),
        cacheMaxEntries: z
          .number()
          .int()
          .nonnegative()
          .default(10_000)
          .describe('Verified tokens remembered (by SHA-256), so a repeated token skips the signature check; 0 turns it off.'),
        cacheMaxAgeSec: z
          .number()
          .int()
          .nonnegative()
          .default(60)
          .describe('Longest a verification is trusted before the signature is checked again (also bounds how long a retired key works).'),
      })
      .strict()
      .prefault({}),
    apiKeys: z
      .object({
        enabled: z.boolean().default(true).describe('Accept API keys.'),
        header: z.string().min(1).default('x-api-key').describe('Header that carries an API key.'),
        file: z.string().min(1).default('.data/api-keys.json').describe('Key store file when no Redis is configured (hashes only).'),
      })
      .strict()
      .prefault({}),
    propagation: z
      .object({
        idHeader: z.string().min(1).default('x-user-id').describe('Header carrying the principal id to subgraphs.'),
        tierHeader: z.string().min(1).default('x-user-tier').describe('Header carrying the tier to subgraphs.'),
        scopesHeader: z.string().min(1).default('x-user-scopes').describe('Header carrying the space-separated scopes to subgraphs.'),
        kindHeader: z
          .string()
          .min(1)
          .default('x-auth-kind')
          .describe('Header carrying how the caller authenticated: `user`, `api_key` or `anonymous`.'),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .prefault({});

export const ConfigSchema = z
  .object({
    server: ServerSchema,
    auth: AuthSchema,
    graphql: GraphqlSchema,
    supergraph: SupergraphSchema,
    subgraphs: z
      .record(z.string().min(1), SubgraphSchema)
      .default({})
      .describe('Per-subgraph settings keyed by subgraph name, e.g. `subgraphs.users.url`.'),
    resilience: ResilienceSchema,
    redis: RedisSchema,
    logging: LoggingSchema,
    metrics: MetricsSchema,
    cost: CostSchema,
    rateLimit: RateLimitSchema,
    rest: RestSchema,
    tracing: TracingSchema.describe('OpenTelemetry tracing (see "Observability" → "Tracing").'),
  })
  .strict()
  .superRefine((config, ctx) => {
    const hasRedis = config.redis.url !== undefined || config.redis.cluster !== undefined;
    if (config.rateLimit.store === 'redis' && !hasRedis) {
      ctx.addIssue({ code: 'custom', path: ['rateLimit', 'store'], message: 'redis needs redis.url or redis.cluster' });
    }
    if (config.resilience.sharedBreakers.enabled && !hasRedis) {
      ctx.addIssue({
        code: 'custom',
        path: ['resilience', 'sharedBreakers', 'enabled'],
        message: 'sharing breaker state needs redis.url or redis.cluster',
      });
    }
    // Replicas (two or more upstreams), of REST routes and of subgraphs alike.
    const checkReplicas = (path: (string | number)[], balancing: { strategy: string; hashHeader?: string | undefined }) => {
      if (!config.resilience.enabled) {
        ctx.addIssue({
          code: 'custom',
          path: [...path, 'upstreams'],
          message: 'several replicas need resilience.enabled: true (the balancer is part of the resilience layer)',
        });
      }
      if (balancing.strategy === 'consistent_hash' && !balancing.hashHeader) {
        ctx.addIssue({ code: 'custom', path: [...path, 'loadBalancing', 'hashHeader'], message: 'consistent_hash needs a hashHeader' });
      }
    };
    config.rest.routes.forEach((route, index) => {
      if ((route.upstreams?.length ?? 0) < 2) return;
      checkReplicas(['rest', 'routes', index], routeLoadBalancing(config as GatewayConfig, route));
    });
    for (const name of Object.keys(config.subgraphs)) {
      if ((config.subgraphs[name]?.upstreams?.length ?? 0) < 2) continue;
      const balancing = subgraphSettings(config as GatewayConfig, name).loadBalancing;
      checkReplicas(['subgraphs', name], balancing);
      if (balancing.ejection.maxEjectionMs < balancing.ejection.baseEjectionMs) {
        ctx.addIssue({
          code: 'custom',
          path: ['subgraphs', name, 'loadBalancing', 'ejection', 'maxEjectionMs'],
          message: 'must be at least baseEjectionMs',
        });
      }
    }
  });

export type GatewayConfig = z.output<typeof ConfigSchema>;
/** The resilience settings of one subgraph, defaults and overrides merged. */
export type SubgraphSettings = z.output<typeof SubgraphDefaultsSchema> & { fallback: { static?: string | undefined } };

/** `resilience.subgraphDefaults` with `subgraphs.<name>`'s overrides applied, group by group. */
export function subgraphSettings(config: GatewayConfig, name: string): SubgraphSettings {
  const defaults = config.resilience.subgraphDefaults;
  const {
    url: _url,
    upstreams: _upstreams,
    breaker,
    bulkhead,
    retry,
    fallback,
    loadBalancing,
    ...own
  } = config.subgraphs[name] ?? { url: undefined };
  return {
    ...defaults,
    ...definedOnly(own),
    breaker: { ...defaults.breaker, ...definedOnly(breaker) },
    bulkhead: { ...defaults.bulkhead, ...definedOnly(bulkhead) },
    retry: { ...defaults.retry, ...definedOnly(retry) },
    fallback: { ...defaults.fallback, ...definedOnly(fallback) },
    loadBalancing: mergeLoadBalancing(defaults.loadBalancing, loadBalancing),
  };
}

type LoadBalancingSettings = SubgraphSettings['loadBalancing'];

function mergeLoadBalancing(
  defaults: LoadBalancingSettings,
  overrides: z.output<typeof LoadBalancingOverrideSchema> | undefined,
): LoadBalancingSettings {
  const { healthCheck, ejection, ...balancing } = overrides ?? {};
  return {
    ...defaults,
    ...definedOnly(balancing),
    healthCheck: { ...defaults.healthCheck, ...definedOnly(healthCheck) },
    ejection: { ...defaults.ejection, ...definedOnly(ejection) },
  };
}

/** A REST route's `loadBalancing`: `resilience.subgraphDefaults.loadBalancing` with the route's overrides. */
export function routeLoadBalancing(config: GatewayConfig, route: RestRouteConfig): LoadBalancingSettings {
  return mergeLoadBalancing(config.resilience.subgraphDefaults.loadBalancing, route.loadBalancing);
}

/** The replicas of a subgraph configured with two or more `upstreams`; undefined for a single URL. */
export function subgraphReplicas(config: GatewayConfig, name: string): { url: string; weight: number }[] | undefined {
  const upstreams = config.subgraphs[name]?.upstreams;
  return upstreams && upstreams.length >= 2 ? upstreams : undefined;
}

/** A REST route's replicas when it lists two or more `upstreams`; undefined: one upstream, the plain path. */
export function routeReplicas(route: RestRouteConfig): { url: string; weight: number }[] | undefined {
  return route.upstreams && route.upstreams.length >= 2 ? route.upstreams : undefined;
}

/** The one URL of a subgraph that the config sets (`url`, or the first of `upstreams`); undefined: the supergraph's. */
export function configuredSubgraphUrl(config: GatewayConfig, name: string): string | undefined {
  const subgraph = config.subgraphs[name];
  return subgraph?.url ?? subgraph?.upstreams?.[0]?.url;
}

function definedOnly<T extends object>(value: T | undefined): Partial<T> {
  return Object.fromEntries(Object.entries(value ?? {}).filter(([, v]) => v !== undefined)) as Partial<T>;
}
/** What a caller may pass: any subset, defaults fill the rest. */
export type GatewayConfigInput = z.input<typeof ConfigSchema>;

/** `list`: comma-separated, blanks trimmed. */
type EnvType = 'string' | 'number' | 'boolean' | 'list';

/** Environment variables that override one config key each. */
export const ENV_OVERRIDES: Readonly<Record<string, { key: string; type: EnvType }>> = {
  HOST: { key: 'server.host', type: 'string' },
  PORT: { key: 'server.port', type: 'number' },
  SUPERGRAPH_PATH: { key: 'supergraph.path', type: 'string' },
  REDIS_URL: { key: 'redis.url', type: 'string' },
  REDIS_CLUSTER_NODES: { key: 'redis.cluster.nodes', type: 'list' },
  AUTH_REQUIRED: { key: 'auth.required', type: 'boolean' },
  LOG_LEVEL: { key: 'logging.level', type: 'string' },
  TRACING_ENABLED: { key: 'tracing.enabled', type: 'boolean' },
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: { key: 'tracing.endpoint', type: 'string' },
  OTEL_SERVICE_NAME: { key: 'tracing.serviceName', type: 'string' },
};

/** `SUBGRAPH_USERS_URL=http://...` sets `subgraphs.users.url` (the name is lower-cased); `http://a,http://b` sets `subgraphs.users.upstreams`. */
const SUBGRAPH_URL_ENV = /^SUBGRAPH_([A-Z0-9_]+)_URL$/;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export interface LoadConfigOptions {
  /** YAML file to read; when absent, defaults and environment only. */
  file?: string | undefined;
  env?: NodeJS.ProcessEnv;
  /** Applied after the file and before the environment (used by tests and the demo launcher). */
  overrides?: GatewayConfigInput;
}

export function loadConfig(options: LoadConfigOptions = {}): GatewayConfig {
  const env = options.env ?? process.env;
  const raw: Record<string, unknown> = options.file ? readYamlFile(options.file) : {};
  if (options.overrides) deepMerge(raw, options.overrides as Record<string, unknown>);
  const sources = applyEnv(raw, env);
  const result = ConfigSchema.safeParse(raw);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => {
      const key = issueKey(issue);
      // A list from the environment is reported by item (`redis.cluster.nodes.0`): find its variable.
      const from = sources.get(key) ?? [...sources].find(([source]) => key.startsWith(`${source}.`))?.[1];
      return `  ${key || '(root)'}${from ? ` (from env ${from})` : ''}: ${issue.message}`;
    });
    throw new ConfigError(`invalid gateway config:\n${lines.join('\n')}`);
  }
  result.data.graphql.production ??= env.NODE_ENV === 'production';
  return result.data;
}

/** The production-mode switches of `graphql` with their unset values resolved from `graphql.production`. */
export interface ProductionSettings {
  introspection: boolean | { tiers: string[]; scopes: string[] };
  hideSuggestions: boolean;
  maskSubgraphErrors: boolean;
}

export function productionSettings(graphql: GatewayConfig['graphql']): ProductionSettings {
  const production = graphql.production ?? false;
  return {
    introspection: graphql.introspection ?? !production,
    hideSuggestions: graphql.hideSuggestions ?? production,
    maskSubgraphErrors: graphql.maskSubgraphErrors ?? production,
  };
}

function issueKey(issue: z.core.$ZodIssue): string {
  const path = issue.path.map(String);
  if (issue.code === 'unrecognized_keys') return [...path, ...issue.keys].join('.');
  return path.join('.');
}

function readYamlFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read config file ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (error) {
    throw new ConfigError(`config file ${file} is not valid YAML: ${(error as Error).message}`);
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError(`config file ${file} must hold a mapping of keys, not ${Array.isArray(parsed) ? 'a list' : typeof parsed}`);
  }
  return parsed as Record<string, unknown>;
}

/** Writes env overrides into `raw`; returns which env variable set which key, for error messages. */
function applyEnv(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): Map<string, string> {
  const sources = new Map<string, string>();
  for (const [name, { key, type }] of Object.entries(ENV_OVERRIDES)) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    setPath(raw, key.split('.'), envValue(type, value));
    sources.set(key, name);
  }
  for (const [name, value] of Object.entries(env)) {
    const match = SUBGRAPH_URL_ENV.exec(name);
    if (!match?.[1] || value === undefined || value === '') continue;
    const subgraph = match[1].toLowerCase();
    // A comma-separated list is replicas. Unambiguous enough: a subgraph URL with a comma of its own
    // (in its path or query) must be set in the config file instead.
    if (value.includes(',')) {
      const entry = (raw.subgraphs as Record<string, Record<string, unknown>> | undefined)?.[subgraph];
      if (entry) delete entry.url;
      setPath(
        raw,
        ['subgraphs', subgraph, 'upstreams'],
        value.split(',').map((url) => ({ url: url.trim() })),
      );
      value.split(',').forEach((_url, index) => sources.set(`subgraphs.${subgraph}.upstreams.${index}.url`, name));
      continue;
    }
    const entry = (raw.subgraphs as Record<string, Record<string, unknown>> | undefined)?.[subgraph];
    if (entry) delete entry.upstreams;
    setPath(raw, ['subgraphs', subgraph, 'url'], value);
    sources.set(`subgraphs.${subgraph}.url`, name);
  }
  return sources;
}

function envValue(type: EnvType, value: string): unknown {
  if (type === 'list')
    return value
      .split(',')
      .map((item) => item.trim())
      .filter(Boolean);
  if (type === 'number' && /^\s*-?\d+(\.\d+)?\s*$/.test(value)) return Number(value);
  if (type === 'boolean' && /^(true|1)$/i.test(value.trim())) return true;
  if (type === 'boolean' && /^(false|0)$/i.test(value.trim())) return false;
  return value;
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const segment of path.slice(0, -1)) {
    const next = node[segment];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[segment] = {};
    node = node[segment] as Record<string, unknown>;
  }
  node[path[path.length - 1] as string] = value;
}

function deepMerge(target: Record<string, unknown>, source: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(source)) {
    const existing = target[key];
    if (isPlainObject(value) && isPlainObject(existing)) deepMerge(existing, value);
    else if (value !== undefined) target[key] = value;
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
