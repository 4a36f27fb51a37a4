import { z } from 'zod';
import { durationMs, durationOrZeroMs, positiveInt } from '../config-kit.js';

/** The `rateLimit` section: where budgets live, what a store failure means, adaptive refill, and the tiers. */

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
    // The same for an override's own limits, against the largest cost an operation it matches may have.
    tier.overrides.forEach((override, index) => {
      // An override lowers maxCost, never raises it (policy.ts takes the smaller).
      const maxCost = Math.min(tier.maxCost, override.maxCost ?? tier.maxCost);
      override.limits.forEach((limit, at) => {
        const most = limit.kind === 'token_bucket' ? limit.capacity : limit.limit;
        if (most < maxCost) {
          ctx.addIssue({
            code: 'custom',
            path: ['overrides', index, 'limits', at],
            message: `holds at most ${most} points, less than the maxCost ${maxCost} of the operations it applies to`,
          });
        }
      });
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

export const RateLimitConfigSchema = z
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
    storeTimeoutMs: durationMs.default(100).describe('Longest a budget call to Redis may take before the failure policy applies.'),
    retryStoreAfterMs: durationMs
      .default(1_000)
      .describe('After a Redis failure, how long to stay on the failure policy before trying Redis again.'),
    refundDelayMs: durationOrZeroMs
      .max(10_000)
      .default(100)
      .describe(
        'Redis store: how long a refund of unused points may wait in this instance, folded into the client\'s next charge when one comes first (one round trip per request instead of two); meanwhile every instance sees the budget short by it (see "Refunds in Redis"). 0: each refund is sent at once and awaited, and the `RateLimit` headers show Redis\' state after it.',
      ),
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
        latencyThresholdMs: durationMs
          .optional()
          .describe(
            'A subgraph whose p95 latency over `latencyWindowMs` is above this counts as degraded. Unset: latency is not considered.',
          ),
        latencyFactor: z.number().gt(0).max(1).default(0.5).describe("Refill factor while a subgraph's p95 latency is over the threshold."),
        latencyWindowMs: durationMs.default(30_000).describe('Window of recent subgraph calls the p95 latency is taken over.'),
        latencyMinSamples: positiveInt
          .default(20)
          .describe('Fewest calls in the window before the p95 counts (a few slow calls are not a trend).'),
        recoveryMs: durationOrZeroMs
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

export type RateLimitConfig = z.output<typeof RateLimitConfigSchema>;
