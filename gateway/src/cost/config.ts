import { z } from 'zod';
import { durationMs, positiveInt } from '../config-kit.js';

/** The `cost` section: how operations are costed before they run (the model, its overrides file, dry runs). */
export const CostConfigSchema = z
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
    pollIntervalMs: durationMs.default(1_000).describe('How often the overrides file is checked for changes.'),
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

export type CostConfig = z.output<typeof CostConfigSchema>;
