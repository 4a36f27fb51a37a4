import { LRUCache } from 'lru-cache';
import type { CacheStore } from '../cache/store.js';
import { withTimeout } from '../cache/timeout.js';

/** A call's first answer, held in this instance's memory instead of being written to the store. */
export interface HeldAnswer {
  body: string;
  /** When the subgraph gave it (epoch ms). */
  at: number;
}

/** The keys of the last purge of every copy and of one subgraph's copies; a mark's write time is its purge's. */
const PURGED_ALL = 'all';
const purgedSubgraph = (subgraph: string) => `subgraph:${subgraph}`;
/**
 * How long a purge's mark is kept, and so the longest a held answer is ever served (whatever
 * `cacheTtlMs` says): an answer held before a purge must not outlive its mark.
 */
export const MAX_HELD_MS = 7 * 24 * 3_600_000;
/** What an entry costs besides its body's characters: the record, the key string, the LRU's slots. */
const ENTRY_OVERHEAD_BYTES = 128;

/**
 * Calls' first answers, held in this process (one budget for every subgraph) while the shared store
 * gets a call's copy only from its next answer: most calls of a workload of ever-new pages are
 * answered once, and writing each answer to Redis was the largest cost of the fallback cache (the
 * answer's bytes through the loopback socket, 18 KB per request on the benchmark's varied page).
 * A held answer serves this instance's fallbacks as a copy would. What it gives up: another
 * instance cannot serve a call this one saw only once.
 *
 * The budget counts a body's characters as bytes, plus a fixed overhead per entry: V8 keeps these
 * strings at one byte per character unless they hold a character beyond Latin-1, which doubles it.
 *
 * Purges reach held answers through marks in a store of their own (outside the copies' keys, so no
 * purge's scan deletes them): {@link purgeHeld} forgets the held answers on the instance that
 * purges and writes the mark, which every instance reads before serving a held answer.
 */
export class HeldAnswers {
  private readonly held: LRUCache<string, HeldAnswer>;

  constructor(
    maxBytes: number,
    /** Where purges leave their marks (shared by every instance). */
    private readonly marks: CacheStore,
  ) {
    this.held = new LRUCache<string, HeldAnswer>({
      maxSize: maxBytes,
      maxEntrySize: maxBytes,
      sizeCalculation: (answer, key) => answer.body.length + key.length + ENTRY_OVERHEAD_BYTES,
    });
  }

  hold(key: string, body: string, now = Date.now()): void {
    this.held.set(key, { body, at: now });
  }

  /** Whether an answer of this call is held (so the call was answered before). */
  holds(key: string): boolean {
    return this.held.has(key);
  }

  /** The call's copy went to the store, or the held answer was found purged: it is not needed any more. */
  drop(key: string): void {
    this.held.delete(key);
  }

  /** The held answer of a call, if any and younger than `ttlMs` (and than {@link MAX_HELD_MS}); purges are not looked at here. */
  find(key: string, ttlMs: number, now = Date.now()): HeldAnswer | undefined {
    const answer = this.held.get(key);
    if (!answer) return undefined;
    if (now - answer.at >= Math.min(ttlMs, MAX_HELD_MS)) {
      this.held.delete(key);
      return undefined;
    }
    return answer;
  }

  /**
   * When every copy or this subgraph's were last purged (epoch ms, the purging instance's clock),
   * read within `timeoutMs`; 0 if never (in the last {@link MAX_HELD_MS}); undefined when the store
   * cannot say, in which case a held answer is served: the fallback that still works.
   */
  async purgedAt(subgraph: string, timeoutMs: number): Promise<number | undefined> {
    const read = (key: string) => withTimeout(this.marks.get(key), timeoutMs);
    try {
      const marks = await Promise.all([read(PURGED_ALL), read(purgedSubgraph(subgraph))]);
      return Math.max(0, ...marks.map((mark) => mark?.storedAt ?? 0));
    } catch {
      return undefined;
    }
  }

  /** Forgets the held answers of every subgraph, or of one (a purge on this instance); how many. */
  forget(subgraph?: string): number {
    if (subgraph === undefined) {
      const count = this.held.size;
      this.held.clear();
      return count;
    }
    let count = 0;
    for (const key of [...this.held.keys()]) {
      if (key.startsWith(`${subgraph}:`) && this.held.delete(key)) count++;
    }
    return count;
  }

  /** The budget used now: characters held plus the per-entry overhead (a gauge's value). */
  get bytes(): number {
    return this.held.calculatedSize;
  }
}

/**
 * What a purge of the fallback copies does beyond the store: forgets this instance's held answers
 * of its scope (first: that cannot fail), then marks the purge in `marks` for every other instance.
 * Written whether or not this instance holds answers, and before the purge's scan of the copies,
 * so no instance serves an answer held from before the purge once the purge has answered.
 */
export function purgeHeld(marks: CacheStore, held: HeldAnswers | undefined): (subgraph: string | undefined) => Promise<number> {
  return async (subgraph) => {
    const forgotten = held?.forget(subgraph) ?? 0;
    await marks.set(subgraph === undefined ? PURGED_ALL : purgedSubgraph(subgraph), '1', MAX_HELD_MS);
    return forgotten;
  };
}
