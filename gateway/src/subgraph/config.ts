import { z } from 'zod';
import type { AuthConfig } from '../auth/config.js';
import { defaultedGroup, definedOnly, durationMs, durationOrZeroMs, positiveInt, withDefaults } from '../config-kit.js';
import type { RedisConfig } from '../redis/config.js';
import type { ResponseCacheConfig } from './response-cache-config.js';
import {
  BreakerFields,
  BulkheadFields,
  LoadBalancingConfigSchema,
  LoadBalancingOverrideSchema,
  RetryFields,
  mergeLoadBalancing,
} from '../upstream/config.js';

/**
 * The `subgraphs` and `resilience` sections: each subgraph's URL or replicas and its overrides, and
 * the defaults they override (`resilience.subgraphDefaults`). The breaker, bulkhead, retry and
 * balancing groups are upstream/config.ts's; the fallback group and the per-call fields are a
 * subgraph's own. Defaults live in {@link SUBGRAPH_DEFAULTS} (balancing: upstream/config.ts).
 */
const FallbackFields = {
  cache: z.boolean().describe('Keep successful query responses and serve them (stale-if-error) when this subgraph fails.'),
  cacheTtlMs: durationMs.describe('How long a kept response may be served after it was stored.'),
  refreshAfterMs: durationOrZeroMs.describe(
    "This instance looks at a call's answers at most once per this interval (bounds cache writes and checks for hot queries); one it looks at is written when it differs from the copy, or when the copy is half its TTL old. 0: write every answer.",
  ),
};
const StaleIfSlowFields = {
  enabled: z
    .boolean()
    .describe(
      'When a query call has not answered by the soft deadline and the fallback cache holds a copy, answer with the copy at once (`reason: "slow"`); the call goes on within its timeout and refreshes the copy. Never for mutations.',
    ),
  softDeadlineMs: durationMs.describe('The soft deadline; with `adaptive`, its upper bound.'),
  adaptive: z
    .boolean()
    .describe(
      "Derive the soft deadline from this subgraph's recent latency: `percentile` × `factor`, at least `floorMs`, at most `softDeadlineMs` (the fixed one until 20 calls of the last minute are known).",
    ),
  percentile: z.number().min(50).max(100).describe('Adaptive: which latency percentile of the last minute the deadline follows.'),
  factor: z.number().min(1).max(100).describe('Adaptive: the multiple of that percentile a call may take before its copy is served.'),
  floorMs: durationMs.describe('Adaptive: the shortest soft deadline (a very fast subgraph is not given up on after a blip).'),
};
const HedgingFields = {
  enabled: z
    .boolean()
    .describe(
      'For a subgraph with two or more `upstreams`: when a query attempt has not answered by the hedge delay, send a second attempt to another usable replica; the first answer wins and the other attempt is aborted. At most one hedge per attempt, within `maxPercent`. Never for mutations.',
    ),
  delayMs: durationMs.describe(
    'The hedge delay; with `adaptive`, its upper bound (and the delay until 20 calls of the last minute are known).',
  ),
  adaptive: z
    .boolean()
    .describe(
      "Derive the delay from this subgraph's recent latency: its `percentile` over the last minute, within [`minDelayMs`, `delayMs`].",
    ),
  percentile: z.number().min(50).max(99.9).describe('Adaptive: which latency percentile of the last minute the delay follows.'),
  minDelayMs: durationMs.describe('Adaptive: the shortest hedge delay.'),
  maxPercent: z
    .number()
    .min(1)
    .max(100)
    .describe('Hedge budget: hedges at most this share of the calls in the window (one per window is always allowed).'),
  windowMs: durationMs.describe('The rolling window of the hedge budget.'),
};
const SubgraphResilienceFields = {
  timeoutMs: durationMs.describe('Timeout of one call (one attempt) to the subgraph.'),
  connectTimeoutMs: durationMs.describe(
    'Longest wait for a new connection to the subgraph (TCP and TLS handshakes). Past it the call was never sent: it is a connection error, retried like a refused connection (on another replica when there are replicas), mutations included. Only a value below `timeoutMs` can act.',
  ),
  connections: positiveInt.describe('Size of the keep-alive connection pool to this subgraph.'),
  dedupe: z.boolean().describe('Identical concurrent queries (same document, variables and forwarded identity) share one call.'),
  public: z.boolean().describe('Responses are the same for every caller: cache and dedupe keys leave the identity out.'),
  publicRootFields: z
    .array(z.string().min(1))
    .describe(
      'Root fields (e.g. `topProducts`) whose responses are the same for every caller; a call is public when all its root fields are.',
    ),
};

const SUBGRAPH_DEFAULTS = {
  timeoutMs: 5_000,
  // Room for one lost SYN (Linux sends it again after 1 s), and a retry still fits in `timeoutMs`.
  connectTimeoutMs: 2_000,
  connections: 64,
  dedupe: true,
  public: false,
  publicRootFields: [] as string[],
  breaker: {
    enabled: true,
    errorThresholdPercentage: 50,
    rollingWindowMs: 10_000,
    volumeThreshold: 10,
    resetTimeoutMs: 10_000,
    consecutiveFailures: 20,
    slowCallRatePercentage: 80,
  },
  bulkhead: { maxConcurrent: 100 },
  retry: { maxRetries: 2, baseDelayMs: 25, maxDelayMs: 250 },
  fallback: { cache: true, cacheTtlMs: 300_000, refreshAfterMs: 1_000 },
  staleIfSlow: { enabled: true, softDeadlineMs: 1_000, adaptive: false, percentile: 99, factor: 2, floorMs: 200 },
  hedging: { enabled: false, delayMs: 500, adaptive: true, percentile: 95, minDelayMs: 10, maxPercent: 10, windowMs: 10_000 },
};

// Unset by default: it then follows the subgraph's own timeout (see breakerSettings).
const { slowCallDurationMs, ...breakerDefaulted } = BreakerFields;
const SubgraphDefaultsSchema = z
  .object({
    ...withDefaults(SubgraphResilienceFields, SUBGRAPH_DEFAULTS),
    breaker: z
      .object({ ...withDefaults(breakerDefaulted, SUBGRAPH_DEFAULTS.breaker), slowCallDurationMs })
      .strict()
      .prefault({}),
    bulkhead: defaultedGroup(BulkheadFields, SUBGRAPH_DEFAULTS.bulkhead),
    retry: defaultedGroup(RetryFields, SUBGRAPH_DEFAULTS.retry),
    fallback: defaultedGroup(FallbackFields, SUBGRAPH_DEFAULTS.fallback),
    staleIfSlow: defaultedGroup(StaleIfSlowFields, SUBGRAPH_DEFAULTS.staleIfSlow),
    hedging: defaultedGroup(HedgingFields, SUBGRAPH_DEFAULTS.hedging),
    loadBalancing: LoadBalancingConfigSchema,
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

const SubgraphConfigSchema = z
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
    staleIfSlow: z.object(StaleIfSlowFields).partial().strict().optional(),
    hedging: z.object(HedgingFields).partial().strict().optional(),
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

/** The `subgraphs` section. */
export const SubgraphsConfigSchema = z
  .record(z.string().min(1), SubgraphConfigSchema)
  .default({})
  .describe('Per-subgraph settings keyed by subgraph name, e.g. `subgraphs.users.url`.');

/** The `resilience` section: the request deadline, the caches and shared breakers, and `subgraphDefaults`. */
export const ResilienceConfigSchema = z
  .object({
    enabled: z
      .boolean()
      .default(true)
      .describe(
        'Timeouts, breakers, bulkheads, retries, dedupe and fallbacks around subgraph calls; false calls subgraphs plainly (used by the benchmark).',
      ),
    requestDeadlineMs: durationMs
      .default(10_000)
      .describe('Deadline of one GraphQL request: no subgraph attempt or retry starts after it, and attempts are cut at it.'),
    identityHeaders: z
      .array(z.string().min(1).toLowerCase())
      .default(['authorization', 'x-api-key', 'x-user-id', 'x-user-tier', 'x-user-scopes', 'x-auth-kind'])
      .describe('Headers of the outgoing subgraph request that identify the caller; their values are part of cache and dedupe keys.'),
    cacheMaxBytes: positiveInt
      .default(64 * 1024 * 1024)
      .describe(
        'Byte limit of the in-memory cache store, shared by the fallback copies and the response cache (used when no Redis is configured).',
      ),
    heldAnswersMaxBytes: z
      .number()
      .int()
      .min(0)
      .default(16 * 1024 * 1024)
      .describe(
        "With the fallback cache in Redis (and `refreshAfterMs` above 0): a subgraph call's first answer is held in this instance's memory, all subgraphs together up to about this many bytes (one per character of an answer, plus 128 per entry; least recently used dropped first), and its copy is written to Redis from the call's next answer. 0: every first answer is written to Redis.",
      ),
    cacheReadTimeoutMs: durationMs
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
        resyncIntervalMs: durationMs
          .default(5_000)
          .describe(
            'How often each instance also reads the shared state (one GET per breaker), which bounds the delay when a pub/sub message is lost (e.g. during a reconnect).',
          ),
        maxMessageAgeMs: durationMs
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

export type ResilienceConfig = z.output<typeof ResilienceConfigSchema>;
export type SubgraphConfig = z.output<typeof SubgraphConfigSchema>;
export type SubgraphsConfig = z.output<typeof SubgraphsConfigSchema>;

/** The two sections a subgraph's settings are made of (the root config is one). */
/** The sections subgraph calls read: resilience and the subgraphs, plus what they take from auth and Redis. */
export interface SubgraphCallSections extends SubgraphSections {
  auth: Pick<AuthConfig, 'propagation'>;
  responseCache: ResponseCacheConfig;
  redis: Pick<RedisConfig, 'keyPrefix'>;
}

export interface SubgraphSections {
  resilience: ResilienceConfig;
  subgraphs: SubgraphsConfig;
}

/** The resilience settings of one subgraph, defaults and overrides merged. */
export type SubgraphSettings = z.output<typeof SubgraphDefaultsSchema> & {
  fallback: { static?: string | undefined };
  breaker: { slowCallDurationMs: number };
};

/** `resilience.subgraphDefaults` with `subgraphs.<name>`'s overrides applied, group by group. */
export function subgraphSettings(config: SubgraphSections, name: string): SubgraphSettings {
  const defaults = config.resilience.subgraphDefaults;
  const {
    url: _url,
    upstreams: _upstreams,
    breaker,
    bulkhead,
    retry,
    fallback,
    staleIfSlow,
    hedging,
    loadBalancing,
    ...own
  } = config.subgraphs[name] ?? { url: undefined };
  return {
    ...defaults,
    ...definedOnly(own),
    breaker: breakerSettings({ ...defaults.breaker, ...definedOnly(breaker) }, definedOnly(own).timeoutMs ?? defaults.timeoutMs),
    bulkhead: { ...defaults.bulkhead, ...definedOnly(bulkhead) },
    retry: { ...defaults.retry, ...definedOnly(retry) },
    fallback: { ...defaults.fallback, ...definedOnly(fallback) },
    staleIfSlow: { ...defaults.staleIfSlow, ...definedOnly(staleIfSlow) },
    hedging: { ...defaults.hedging, ...definedOnly(hedging) },
    loadBalancing: mergeLoadBalancing(defaults.loadBalancing, loadBalancing),
  };
}

/** A breaker's settings with `slowCallDurationMs` resolved: unset, half the call timeout (a call that used half its allowance is slow). */
function breakerSettings<B extends { slowCallDurationMs?: number | undefined }>(
  breaker: B,
  timeoutMs: number,
): B & { slowCallDurationMs: number } {
  return { ...breaker, slowCallDurationMs: breaker.slowCallDurationMs ?? Math.ceil(timeoutMs / 2) };
}

/** The replicas of a subgraph configured with two or more `upstreams`; undefined for a single URL. */
export function subgraphReplicas(config: Pick<SubgraphSections, 'subgraphs'>, name: string): { url: string; weight: number }[] | undefined {
  const upstreams = config.subgraphs[name]?.upstreams;
  return upstreams && upstreams.length >= 2 ? upstreams : undefined;
}

/** The one URL of a subgraph that the config sets (`url`, or the first of `upstreams`); undefined: the supergraph's. */
export function configuredSubgraphUrl(config: Pick<SubgraphSections, 'subgraphs'>, name: string): string | undefined {
  const subgraph = config.subgraphs[name];
  return subgraph?.url ?? subgraph?.upstreams?.[0]?.url;
}
