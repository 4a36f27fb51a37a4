import type { CacheStore } from './store.js';

/**
 * What to purge: everything, one subgraph's copies, or (for a cache that keys its entries by entity)
 * one type, optionally one key of it. Every field absent: everything.
 */
export interface PurgeScope {
  subgraph?: string | undefined;
  /** A GraphQL type name (e.g. `Product`): only a cache that knows entity types can purge by it. */
  type?: string | undefined;
  /** One entity of `type`, as `name=value[,name=value]` (e.g. `upc=upc-0001`); needs `type`. */
  key?: string | undefined;
}

/**
 * A cache the admin API can purge. The fallback cache implements it for everything and by
 * subgraph; a cache of responses keyed by entity (type and key) implements the same interface and
 * answers `supports` for scopes with a `type`.
 */
export interface CachePurger {
  /** Shown in the purge answer, e.g. `fallback`. */
  readonly name: string;
  /** Whether this cache can purge exactly that scope (it purges nothing it cannot tell apart). */
  supports(scope: PurgeScope): boolean;
  /** How many entries went. */
  purge(scope: PurgeScope): Promise<number>;
}

/**
 * The fallback cache as a {@link CachePurger}: every entry of the store (the response cache's too,
 * which shares it), or a subgraph's copies (their keys start with `<subgraph>:`; REST routes'
 * copies start with `rest:` and go with everything). `alsoPurge` purges what else holds copies
 * (the answers subgraph callers hold in memory), before the store's scan, and counts them.
 */
export function fallbackCachePurger(store: CacheStore, alsoPurge?: (subgraph: string | undefined) => Promise<number>): CachePurger {
  return {
    name: 'fallback',
    supports: (scope) => scope.type === undefined && scope.key === undefined,
    purge: async (scope) => {
      const held = (await alsoPurge?.(scope.subgraph)) ?? 0;
      return held + (await store.purgeMatching(scope.subgraph === undefined ? '*' : `${scope.subgraph}:*`));
    },
  };
}
