/**
 * A small key → string store with a TTL per entry, and tags: the gateway's one cache of subgraph
 * answers (fresh hits of the response cache, and the stale-if-error copies of subgraph and REST
 * answers) keeps its entries here. Two implementations share one contract test
 * (test/cache-store.test.ts): {@link createMemoryStore} and {@link createRedisStore}.
 */
export interface CacheEntry {
  value: string;
  /** When the entry was written, in ms since the epoch (the writing gateway's clock). */
  storedAt: number;
}

export interface CacheStore {
  readonly kind: 'memory' | 'redis';
  /** The entry, or undefined when absent or expired. Rejects when the backing store fails. */
  get(key: string): Promise<CacheEntry | undefined>;
  /** Whether an entry is there (without reading it). Rejects when the backing store fails. */
  has(key: string): Promise<boolean>;
  /** Writes (or overwrites) an entry that expires `ttlMs` from now. Rejects when the backing store fails. */
  set(key: string, value: string, ttlMs: number): Promise<void>;
  /**
   * Lists `key` under each tag (an index kept at least `ttlMs`), so {@link purgeTags} finds it
   * without scanning. On Redis a tag is a set; give a tag and its entries the same `{hash tag}` to
   * keep them in one Redis Cluster slot.
   */
  tag(tags: readonly string[], key: string, ttlMs: number): Promise<void>;
  /** Deletes every entry listed under the tags, and the tags; resolves to the number of entries deleted. */
  purgeTags(tags: readonly string[]): Promise<number>;
  /**
   * Deletes every entry (and tag) whose key matches `pattern`, where `*` matches any run of
   * characters. A scan over the whole store: for operators' commands, never on a request's path.
   */
  purgeMatching(pattern: string): Promise<number>;
}

/** The key of a tag's index, beside the entries (tags are never returned by `get`). */
export const TAG_PREFIX = 'tag:';

/** A `*` glob as a whole-string regular expression (every other character literal). */
export function globToRegExp(pattern: string): RegExp {
  return new RegExp(
    `^${pattern
      .split('*')
      .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );
}
