import { z } from 'zod';

const HintSchema = z
  .object({
    maxAge: z.number().int().min(0).optional().describe('Seconds an answer stays fresh (0: never cached).'),
    scope: z.enum(['PUBLIC', 'PRIVATE']).optional().describe('PRIVATE: one copy per caller (identity headers); PUBLIC: one for all.'),
    staleWhileRevalidate: z
      .number()
      .int()
      .min(0)
      .optional()
      .describe('Seconds after maxAge during which a stale copy answers at once while a refresh runs.'),
  })
  .strict();

/** The `responseCache` section: fresh hits for subgraph queries, per entity for `_entities` fetches. */
export const ResponseCacheConfigSchema = z
  .object({
    enabled: z
      .boolean()
      .default(false)
      .describe(
        "Answer subgraph queries from the cache while fresh (TTL and scope from the subgraph's Cache-Control, i.e. its `@cacheControl` hints, or from `overrides`). Off by default, like Apollo Router's entity cache: caching changes what clients see for the TTL.",
      ),
    entities: z
      .boolean()
      .default(true)
      .describe('Cache `_entities` fetches per entity (type and key), so an entity cached by one query serves another.'),
    staleWhileRevalidateSeconds: z
      .number()
      .int()
      .min(0)
      .default(0)
      .describe(
        "Seconds after an answer's maxAge during which it still answers at once while one refresh runs in the background; a subgraph's own `stale-while-revalidate` wins. 0: no stale answers.",
      ),
    overrides: z
      .record(
        z.string().regex(/^[_A-Za-z][_0-9A-Za-z]*(\.[_A-Za-z][_0-9A-Za-z]*)?$/, 'a type (Product) or a field (Query.topProducts)'),
        HintSchema,
      )
      .default({})
      .describe(
        "Cache hints by type (`Product`: its `_entities` fetches and root fields returning it) or root field (`Query.topProducts`), replacing what the subgraph's header says.",
      ),
  })
  .strict()
  .prefault({});

export type ResponseCacheConfig = z.output<typeof ResponseCacheConfigSchema>;
export type CacheHint = z.output<typeof HintSchema>;
