import { z } from 'zod';
import { defaultedGroup, definedOnly, positiveInt, withDefaults } from '../config-kit.js';
import { AuthConfigSchema } from '../auth/config.js';
import { CostConfigSchema } from '../cost/config.js';
import { GraphqlConfigSchema } from '../graphql/config.js';
import { ServerConfigSchema } from '../http/config.js';
import { LoggingConfigSchema, MetricsConfigSchema, TracingConfigSchema } from '../observability/config.js';
import { RateLimitConfigSchema } from '../rate-limit/config.js';
import { RedisConfigSchema } from '../redis/config.js';
import { SupergraphConfigSchema } from '../supergraph/config.js';

/**
 * The whole gateway configuration: one zod schema, every default in it.
 *
 * Unknown keys are errors, so a typo is reported instead of silently ignored. The README's config
 * table is generated from this schema (`npm run docs`) and a test keeps it in sync.
 */

/**
 * Resilience settings of one subgraph. Each group is declared once, without defaults; the defaults
 * live in {@link SUBGRAPH_DEFAULTS} and make `resilience.subgraphDefaults`, and the same fields,
 * all optional, make the per-subgraph overrides (`subgraphs.<name>.breaker.volumeThreshold: 5`).
 */
const BreakerFields = {
  enabled: z.boolean().describe('Run calls through a circuit breaker (opossum).'),
  errorThresholdPercentage: z
    .number()
    .min(1)
    .max(100)
    .describe('Failure percentage in the rolling window above which the breaker opens.'),
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
  cache: z
    .boolean()
    .describe('Keep successful query responses and serve them (stale-if-error) when this subgraph fails.'),
  cacheTtlMs: positiveInt.describe('How long a kept response may be served after it was stored.'),
  refreshAfterMs: z
    .number()
    .int()
    .min(0)
    .describe('A kept copy younger than this is not rewritten by this instance (bounds cache writes for hot queries; 0: write every answer).'),
};
const SubgraphResilienceFields = {
  timeoutMs: positiveInt.describe('Timeout of one call (one attempt) to the subgraph.'),
  connections: positiveInt.describe('Size of the keep-alive connection pool to this subgraph.'),
  dedupe: z
    .boolean()
    .describe('Identical concurrent queries (same document, variables and forwarded identity) share one call.'),
  public: z
    .boolean()
    .describe('Responses are the same for every caller: cache and dedupe keys leave the identity out.'),
  publicRootFields: z
    .array(z.string().min(1))
    .describe('Root fields (e.g. `topProducts`) whose responses are the same for every caller; a call is public when all its root fields are.'),
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
  healthyThreshold: positiveInt.describe('Passing probes in a row that bring an unhealthy replica back into rotation (and end an ejection).'),
  unhealthyThreshold: positiveInt.describe('Failing probes in a row that take a replica out of rotation.'),
};
const EjectionFields = {
  consecutiveFailures: z
    .number()
    .int()
    .min(0)
    .describe('Failed calls in a row (network error, timeout, 5xx) that eject a replica for a back-off; 0: no passive ejection.'),
  baseEjectionMs: positiveInt.describe('Length of a first ejection; it doubles with each ejection until the replica serves a call successfully.'),
  maxEjectionMs: positiveInt.describe('Longest ejection.'),
};
const hashHeader = z
  .string()
  .min(1)
  .toLowerCase()
  .optional()
  .describe(
    'Header whose value `consistent_hash` hashes: the subgraph request\'s (e.g. `x-user-id`, set from the principal), else the client\'s. Calls without it go round robin.',
  );
const healthCheckPath = z
  .string()
  .startsWith('/')
  .optional()
  .describe('Health check: `GET` this path on the replica\'s origin and expect a 2xx. Unset: `POST {__typename}` to the replica\'s URL, expecting `data.__typename`.');

/** `loadBalancing` of one subgraph or REST route: any field of `resilience.subgraphDefaults.loadBalancing`, overridden. */
const LoadBalancingOverrideSchema = z
  .object({
    ...z.object(LoadBalancingFields).partial().shape,
    hashHeader,
    healthCheck: z.object({ ...z.object(HealthCheckFields).partial().shape, path: healthCheckPath }).strict().optional(),
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
    weight: positiveInt.max(1_000).default(1).describe('Its share under `weighted_round_robin`, of hash-ring points under `consistent_hash`, its capacity under `least_outstanding`.'),
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
          .describe('JSON file of static fallbacks for this subgraph (see `schema/fallbacks/`), served when it fails and no cached copy exists.'),
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
      .describe('Timeouts, breakers, bulkheads, retries, dedupe and fallbacks around subgraph calls; false calls subgraphs plainly (used by the benchmark).'),
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
          .describe('How often each instance also reads the shared state (one GET per breaker), which bounds the delay when a pub/sub message is lost (e.g. during a reconnect).'),
        maxMessageAgeMs: positiveInt
          .default(5_000)
          .describe('A breaker message older than this (by the sender\'s clock) is ignored as stale: it arrived too late to describe the present.'),
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
      .describe('Replicas of the service, instead of `upstream`; with two or more, requests are balanced as for subgraphs (active checks only with `loadBalancing.healthCheck.path`).'),
    loadBalancing: LoadBalancingOverrideSchema.optional().describe('Overrides of `resilience.subgraphDefaults.loadBalancing` for this route\'s replicas.'),
    rewrite: pathPrefix
      .optional()
      .describe('Upstream path that replaces `prefix` (`/legacy/users/7` → `/api/v1/users/7`); unset: the path is forwarded as is.'),
    methods: z.array(z.enum(HTTP_METHODS)).min(1).default(['GET', 'HEAD']).describe('Methods allowed; others get 405 with `Allow`.'),
    auth: z
      .object({
        mode: z.enum(['required', 'optional']).default('required').describe('`required`: anonymous callers get 401; `optional`: anonymous callers pass (as far as `auth.required` allows).'),
        scopes: z.array(z.string().min(1)).default([]).describe('Scopes the caller must all hold (403 otherwise).'),
        forwardAuthorization: z.boolean().default(false).describe('Send the client\'s `Authorization` header on to the upstream (API keys never are).'),
      })
      .strict()
      .prefault({}),
    cost: z.number().int().min(0).default(1).describe('Budget points charged per request, to the same budget as the client\'s GraphQL operations (0: not charged).'),
    timeoutMs: positiveInt
      .default(30_000)
      .describe('Longest wait for the upstream\'s response headers, and for each chunk of a body after that (a long download is not cut while bytes flow).'),
    retries: z
      .object(withDefaults(RetryFields, { maxRetries: 1, baseDelayMs: 25, maxDelayMs: 250 }))
      .strict()
      .prefault({})
      .describe('Retries after a connection error or a 502/503/504, for GET, HEAD and OPTIONS only (requests with bodies are streamed and never replayed).'),
    breaker: z
      .string()
      .min(1)
      .optional()
      .describe('Circuit breaker name: a subgraph\'s name shares that subgraph\'s breaker; unset: the route\'s own (`rest:<prefix>`, with `resilience.subgraphDefaults.breaker` settings).'),
    maxConcurrent: positiveInt.default(100).describe('Requests in flight to this route at once; more fail fast with 503 (bulkhead).'),
    maxBodyBytes: positiveInt
      .optional()
      .describe('Largest request body forwarded: a larger `Content-Length` is 413 before any upstream call, a longer chunked body is cut and answered 413. Unset: no limit (the upstream decides).'),
    fallback: z
      .object({
        cache: z.boolean().default(false).describe('Keep 200 answers to GET and serve them (stale-if-error) when the upstream fails.'),
        public: z.boolean().default(false).describe('Answers are the same for every caller: one cached copy for all; otherwise copies are kept per principal.'),
        ttlMs: positiveInt.default(300_000).describe('How long a kept answer may be served.'),
        maxBodyBytes: positiveInt.default(1_048_576).describe('Larger answers are streamed but not kept.'),
      })
      .strict()
      .prefault({}),
  })
  .strict();

const RestSchema = z
  .object({
    routes: z.array(RestRouteSchema).default([]).describe('REST passthrough routes; a path under no route is 404 without any upstream call.'),
  })
  .strict()
  .prefault({})
  .superRefine((rest, ctx) => {
    const seen = new Set<string>();
    rest.routes.forEach((route, index) => {
      if (seen.has(route.prefix)) ctx.addIssue({ code: 'custom', path: ['routes', index, 'prefix'], message: `duplicate prefix ${route.prefix}` });
      seen.add(route.prefix);
      if ((route.upstream === undefined) === (route.upstreams === undefined)) {
        ctx.addIssue({ code: 'custom', path: ['routes', index, 'upstream'], message: 'give exactly one of upstream or upstreams' });
      }
      const origins = new Set<string>();
      route.upstreams?.forEach(({ url }, replica) => {
        if (origins.has(url)) ctx.addIssue({ code: 'custom', path: ['routes', index, 'upstreams', replica, 'url'], message: `duplicate replica ${url}` });
        origins.add(url);
      });
    });
  });

export type RestRouteConfig = z.output<typeof RestRouteSchema>;
export type RestMethod = (typeof HTTP_METHODS)[number];

export const ConfigSchema = z
  .object({
    server: ServerConfigSchema,
    auth: AuthConfigSchema,
    graphql: GraphqlConfigSchema,
    supergraph: SupergraphConfigSchema,
    subgraphs: z
      .record(z.string().min(1), SubgraphSchema)
      .default({})
      .describe('Per-subgraph settings keyed by subgraph name, e.g. `subgraphs.users.url`.'),
    resilience: ResilienceSchema,
    redis: RedisConfigSchema,
    logging: LoggingConfigSchema,
    metrics: MetricsConfigSchema,
    cost: CostConfigSchema,
    rateLimit: RateLimitConfigSchema,
    rest: RestSchema,
    tracing: TracingConfigSchema,
  })
  .strict()
  .superRefine((config, ctx) => {
    const hasRedis = config.redis.url !== undefined || config.redis.cluster !== undefined;
    if (config.rateLimit.store === 'redis' && !hasRedis) {
      ctx.addIssue({ code: 'custom', path: ['rateLimit', 'store'], message: 'redis needs redis.url or redis.cluster' });
    }
    if (config.resilience.sharedBreakers.enabled && !hasRedis) {
      ctx.addIssue({ code: 'custom', path: ['resilience', 'sharedBreakers', 'enabled'], message: 'sharing breaker state needs redis.url or redis.cluster' });
    }
    // Replicas (two or more upstreams), of REST routes and of subgraphs alike.
    const checkReplicas = (path: (string | number)[], balancing: { strategy: string; hashHeader?: string | undefined }) => {
      if (!config.resilience.enabled) {
        ctx.addIssue({ code: 'custom', path: [...path, 'upstreams'], message: 'several replicas need resilience.enabled: true (the balancer is part of the resilience layer)' });
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
        ctx.addIssue({ code: 'custom', path: ['subgraphs', name, 'loadBalancing', 'ejection', 'maxEjectionMs'], message: 'must be at least baseEjectionMs' });
      }
    }
  });

export type GatewayConfig = z.output<typeof ConfigSchema>;
/** The resilience settings of one subgraph, defaults and overrides merged. */
export type SubgraphSettings = z.output<typeof SubgraphDefaultsSchema> & { fallback: { static?: string | undefined } };

/** `resilience.subgraphDefaults` with `subgraphs.<name>`'s overrides applied, group by group. */
export function subgraphSettings(config: GatewayConfig, name: string): SubgraphSettings {
  const defaults = config.resilience.subgraphDefaults;
  const { url: _url, upstreams: _upstreams, breaker, bulkhead, retry, fallback, loadBalancing, ...own } = config.subgraphs[name] ?? { url: undefined };
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

function mergeLoadBalancing(defaults: LoadBalancingSettings, overrides: z.output<typeof LoadBalancingOverrideSchema> | undefined): LoadBalancingSettings {
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

/** What a caller may pass: any subset, defaults fill the rest. */
export type GatewayConfigInput = z.input<typeof ConfigSchema>;
