import type { CachePurger } from '../cache/purge.js';
import type { CacheStore } from '../cache/store.js';
import { TAG_PREFIX } from '../cache/store.js';
import { entityId, entityTag, typeTag } from './cache-keys.js';

/** What to purge from the response cache: one entity, every entry of a type or a subgraph, or everything. */
export type PurgeTarget = { type: string; key?: string | undefined } | { subgraph: string } | { all: true };

/**
 * Deletes response cache entries; resolves to the number deleted. An entity (`type` and `key`,
 * e.g. `upc=upc-0001` or `id=1,sku=A` in any order) is found through its tag, without a scan, and
 * with it go the query answers of that type whose keys were not selected. A whole type, a
 * subgraph or everything is a scan (per master on a cluster): an operator's command.
 */
export async function purgeResponseCache(store: CacheStore, target: PurgeTarget): Promise<number> {
  if ('all' in target) {
    const deleted = await store.purgeMatching('rc:*');
    await store.purgeMatching(`${TAG_PREFIX}rc:*`);
    return deleted;
  }
  if ('subgraph' in target) {
    return (await store.purgeMatching(`rc:q:${target.subgraph}:*`)) + (await store.purgeMatching(`rc:e:{*}:${target.subgraph}:*`));
  }
  // The type goes into key patterns (`rc:e:{Type:*`): a `*` or `{` there would reach other types' entries.
  if (!isTypeName(target.type)) throw new Error(`--type must be a GraphQL type name, got "${target.type}"`);
  if (target.key === undefined) {
    const deleted = (await store.purgeMatching(`rc:e:{${target.type}:*`)) + (await store.purgeTags([typeTag(target.type)]));
    await store.purgeMatching(`${TAG_PREFIX}rc:t:{${target.type}:*`);
    return deleted;
  }
  const id = entityId(parseKey(target.key));
  if (id === undefined) throw new Error(`--key must be name=value[,name=value...], got "${target.key}"`);
  return store.purgeTags([entityTag(target.type, id), typeTag(target.type)]);
}

/** A type name as GraphQL spells it: what a purge by type accepts (no glob or hash-tag characters). */
export function isTypeName(type: string): boolean {
  return /^[_A-Za-z][_0-9A-Za-z]*$/.test(type);
}

/** Whether `key` is written as a purge takes it (`name=value[,name=value...]`, see {@link parseKey}). */
export function isEntityKey(key: string): boolean {
  try {
    parseKey(key);
    return true;
  } catch {
    return false;
  }
}

/** `upc=upc-0001` or `id=1,sku=A` as fields. */
export function parseKey(key: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const part of key.split(',')) {
    const at = part.indexOf('=');
    if (at <= 0) throw new Error(`--key must be name=value[,name=value...], got "${key}"`);
    fields[part.slice(0, at).trim()] = part.slice(at + 1);
  }
  return fields;
}

/** The response cache as the admin API's purger: one entity, a type, a subgraph's entries, or everything. */
export function responseCachePurger(store: CacheStore): CachePurger {
  return {
    name: 'response',
    supports: (scope) => scope.key === undefined || scope.type !== undefined,
    purge: (scope) =>
      purgeResponseCache(
        store,
        scope.type !== undefined
          ? { type: scope.type, key: scope.key }
          : scope.subgraph !== undefined
            ? { subgraph: scope.subgraph }
            : { all: true },
      ),
  };
}
