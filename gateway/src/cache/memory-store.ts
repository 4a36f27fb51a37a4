import { LRUCache } from 'lru-cache';
import { globToRegExp, type CacheEntry, type CacheStore } from './store.js';

export interface MemoryStoreOptions {
  /** Upper bound of the bytes held (keys and values, counted as UTF-16). Least recently used entries go first. */
  maxBytes: number;
}

/** The in-process {@link CacheStore}: an LRU bounded by bytes, entries expire by their own TTL. */
export function createMemoryStore(options: MemoryStoreOptions): CacheStore {
  const lru = new LRUCache<string, CacheEntry>({
    maxSize: options.maxBytes,
    // An entry larger than the whole cache is not kept rather than flushing everything else.
    maxEntrySize: options.maxBytes,
    sizeCalculation: (entry, key) => Math.max(1, (entry.value.length + key.length) * 2 + 16),
    ttlAutopurge: false,
  });
  // Tag → keys. An evicted or expired key may stay listed: purging it then deletes nothing.
  const tags = new Map<string, Set<string>>();
  const remove = (key: string) => {
    const had = lru.has(key);
    lru.delete(key);
    return had ? 1 : 0;
  };
  return {
    kind: 'memory',
    async get(key) {
      return lru.get(key);
    },
    async has(key) {
      return lru.has(key);
    },
    async set(key, value, ttlMs) {
      lru.set(key, { value, storedAt: Date.now() }, { ttl: ttlMs });
    },
    async tag(names, key) {
      for (const name of names) {
        let keys = tags.get(name);
        if (!keys) tags.set(name, (keys = new Set()));
        keys.add(key);
      }
    },
    async purgeTags(names) {
      let deleted = 0;
      for (const name of names) {
        for (const key of tags.get(name) ?? []) deleted += remove(key);
        tags.delete(name);
      }
      return deleted;
    },
    async purgeMatching(pattern) {
      const matches = globToRegExp(pattern);
      let deleted = 0;
      for (const key of [...lru.keys()]) if (matches.test(key)) deleted += remove(key);
      for (const name of [...tags.keys()]) if (matches.test(name)) tags.delete(name);
      return deleted;
    },
  };
}
