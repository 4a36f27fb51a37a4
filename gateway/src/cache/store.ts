/**
 * A small key → string store with a TTL per entry: the fallback cache of subgraph responses (and,
 * later, of REST GET responses) keeps its copies here. Two implementations share one contract test
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
  /** Writes (or overwrites) an entry that expires `ttlMs` from now. Rejects when the backing store fails. */
  set(key: string, value: string, ttlMs: number): Promise<void>;
  /** Deletes every entry whose key starts with `prefix` ('' for all); resolves to how many went. */
  purge(prefix: string): Promise<number>;
}
