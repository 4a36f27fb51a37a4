import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { SubgraphOperation } from './operation.js';

/**
 * A static fallback file (`schema/fallbacks/<subgraph>.json`):
 *
 * ```json
 * {
 *   "rootFields": { "topProducts": [] },
 *   "entities": { "Product": { "name": "Product details unavailable", "price": 0, "inStock": false } }
 * }
 * ```
 *
 * - `rootFields`: the value of a root field, served under the field's response key (its alias, if
 *   any). A call is answered only when every root field it asks for is listed.
 * - `entities`: per type, fields merged over each representation of an `_entities` call (so the key
 *   fields come from the request); representations of unlisted types get `null`.
 *
 * Values are served as they are, whatever the query selects: keep them small and give every
 * non-null field the query may ask for.
 */
const StaticFallbackFileSchema = z
  .object({
    rootFields: z.record(z.string(), z.unknown()).default({}),
    entities: z.record(z.string(), z.record(z.string(), z.unknown())).default({}),
  })
  .strict();

export type StaticFallbacks = z.output<typeof StaticFallbackFileSchema>;

/** Reads and checks a static fallback file; throws an Error naming the file and the problem. */
export function loadStaticFallbacks(path: string): StaticFallbacks {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new Error(`static fallback file ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const result = StaticFallbackFileSchema.safeParse(parsed);
  if (!result.success) {
    throw new Error(
      `static fallback file ${path}: ${result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`,
    );
  }
  return result.data;
}

/** The static answer to one subgraph call, as a GraphQL response body, or undefined if the file has none. */
export function staticResponse(
  fallbacks: StaticFallbacks,
  operation: SubgraphOperation,
  variables: Record<string, unknown> | undefined,
): { data: Record<string, unknown> } | undefined {
  if (operation.type !== 'query' || operation.rootFields.length === 0) return undefined;
  const data: Record<string, unknown> = {};
  for (const field of operation.rootFields) {
    if (field.name === '_entities') {
      const entities = staticEntities(fallbacks, variables?.representations);
      if (!entities) return undefined;
      data[field.responseKey] = entities;
    } else if (Object.hasOwn(fallbacks.rootFields, field.name)) {
      data[field.responseKey] = fallbacks.rootFields[field.name];
    } else {
      return undefined;
    }
  }
  return { data };
}

function staticEntities(fallbacks: StaticFallbacks, representations: unknown): unknown[] | undefined {
  if (!Array.isArray(representations)) return undefined;
  let served = 0;
  const entities = representations.map((representation: unknown) => {
    const typename = (representation as { __typename?: unknown } | null)?.__typename;
    const fields = typeof typename === 'string' ? fallbacks.entities[typename] : undefined;
    if (!fields) return null;
    served++;
    return { ...(representation as Record<string, unknown>), ...fields };
  });
  return served > 0 ? entities : undefined;
}
