import { LRUCache } from 'lru-cache';
import type { CacheEntry, CacheStore } from './store.js';

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
  return {
    kind: 'memory',
    async get(key) {
      return lru.get(key);
    },
    async set(key, value, ttlMs) {
      lru.set(key, { value, storedAt: Date.now() }, { ttl: ttlMs });
    },
    async purge(prefix) {
      let removed = 0;
      for (const key of [...lru.keys()]) if (key.startsWith(prefix) && lru.delete(key)) removed += 1;
      return removed;
    },
  };
}
