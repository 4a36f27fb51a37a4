import { z } from 'zod';
import { defaultedGroup, definedOnly, durationMs, durationOrZeroMs, positiveInt, withDefaults } from '../config-kit.js';

/**
 * The settings of calling an upstream, shared by subgraphs (subgraph/config.ts) and REST routes
 * (rest/config.ts): the breaker, bulkhead and retry field groups, and the balancing of replicas
 * with its health checks and ejections. The breaker, bulkhead and retry groups are declared here
 * without defaults: subgraph/config.ts applies the subgraph defaults (`resilience.subgraphDefaults`),
 * and the same fields, all optional, make the overrides of one subgraph
 * (`subgraphs.<name>.breaker.volumeThreshold: 5`). The balancing's defaults are declared here, since
 * routes fall back on them as subgraphs do.
 */
export const BreakerFields = {
  enabled: z.boolean().describe('Run calls through a circuit breaker (opossum).'),
  errorThresholdPercentage: z.number().min(1).max(100).describe('Failure percentage in the rolling window above which the breaker opens.'),
  rollingWindowMs: durationMs.describe('Length of the rolling window of call statistics (10 buckets).'),
  volumeThreshold: z
    .number()
    .int()
    .min(0)
    .describe('Calls the window must hold before the breaker may open (a few failures of a quiet subgraph do not open it).'),
  resetTimeoutMs: durationMs.describe('How long an open breaker waits before letting one probe call through (half-open).'),
  consecutiveFailures: z
    .number()
    .int()
    .min(0)
    .describe(
      'Failures in a row that open the breaker whatever the volume, each counted once per caller that waited for it (a call shared by in-flight dedupe counts for every request it served); 0: off.',
    ),
  slowCallDurationMs: durationOrZeroMs
    .optional()
    .describe(
      "A call (answered or failed) that takes at least this long is slow; slow calls count toward `slowCallRatePercentage` (Resilience4j's slow-call rate). Unset: half the subgraph's `timeoutMs`; 0: slowness never opens the breaker.",
    ),
  slowCallRatePercentage: z
    .number()
    .min(1)
    .max(100)
    .describe(
      'Share of slow calls in the rolling window (weighted by callers, at least `volumeThreshold` of them) at or above which the breaker opens. A half-open probe that is slow keeps it open.',
    ),
};
export const BulkheadFields = {
  maxConcurrent: positiveInt.describe('Calls to this subgraph in flight at once; calls over the cap fail fast (`bulkhead_rejected`).'),
};
export const RetryFields = {
  maxRetries: z
    .number()
    .int()
    .min(0)
    .max(5)
    .describe(
      'Retries of a query after a connection error (refused, reset, or no connection within the connect timeout) or a 502/503/504, never after other timeouts; of a mutation only when no connection was made (refused, connect timeout, unknown host).',
    ),
  baseDelayMs: durationMs.describe('Back-off before the first retry; doubles per retry, with full jitter.'),
  maxDelayMs: durationMs.describe('Upper bound of one back-off.'),
};

/** Replicas of one subgraph (`subgraphs.<name>.upstreams`) or REST route, and how calls are spread over them. */
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
  intervalMs: durationMs.describe('Time between two probes of one replica.'),
  timeoutMs: durationMs.describe('A probe with no answer by then fails.'),
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
  baseEjectionMs: durationMs.describe(
    'Length of a first ejection; it doubles with each ejection until the replica serves a call successfully.',
  ),
  maxEjectionMs: durationMs.describe('Longest ejection.'),
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
export const LoadBalancingOverrideSchema = z
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

/** `resilience.subgraphDefaults.loadBalancing`: the balancing of every subgraph's and REST route's replicas, unless overridden. */
const LOAD_BALANCING_DEFAULTS = {
  strategy: 'round_robin' as const,
  healthCheck: { enabled: true, intervalMs: 5_000, timeoutMs: 1_000, healthyThreshold: 2, unhealthyThreshold: 2 },
  ejection: { consecutiveFailures: 3, baseEjectionMs: 5_000, maxEjectionMs: 60_000 },
};

export const LoadBalancingConfigSchema = z
  .object({
    ...withDefaults(LoadBalancingFields, { strategy: LOAD_BALANCING_DEFAULTS.strategy }),
    hashHeader,
    healthCheck: z
      .object({ ...withDefaults(HealthCheckFields, LOAD_BALANCING_DEFAULTS.healthCheck), path: healthCheckPath })
      .strict()
      .prefault({}),
    ejection: defaultedGroup(EjectionFields, LOAD_BALANCING_DEFAULTS.ejection),
  })
  .strict()
  .prefault({});

/** The balancing of one subgraph's or route's replicas, defaults and overrides merged. */
export type LoadBalancingSettings = z.output<typeof LoadBalancingConfigSchema>;
export type LoadBalancingOverride = z.output<typeof LoadBalancingOverrideSchema>;

/** `defaults` with the set fields of `overrides` applied, group by group. */
export function mergeLoadBalancing(defaults: LoadBalancingSettings, overrides: LoadBalancingOverride | undefined): LoadBalancingSettings {
  const { healthCheck, ejection, ...balancing } = overrides ?? {};
  return {
    ...defaults,
    ...definedOnly(balancing),
    healthCheck: { ...defaults.healthCheck, ...definedOnly(healthCheck) },
    ejection: { ...defaults.ejection, ...definedOnly(ejection) },
  };
}
