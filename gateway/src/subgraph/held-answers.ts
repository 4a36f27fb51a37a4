import { LRUCache } from 'lru-cache';
import type { CacheStore } from '../cache/store.js';
import { withTimeout } from '../cache/timeout.js';

/** A call's first answer, held in this instance's memory instead of being written to the store. */
export interface HeldAnswer {
  body: string;
  /** When the subgraph gave it (epoch ms). */
  at: number;
}

/**
 * The store's record of the last purge of every copy (`!purged`) or of one subgraph's
 * (`!purged:<subgraph>`): its write time is the purge's. `!` is in no subgraph name, so no purge
 * of a subgraph's copies (`<subgraph>:*`) takes a marker with it; a purge of everything does, and
 * writes its own after.
 */
const PURGED = '!purged';
/** Longer than any sensible fallback TTL: a held answer older than its TTL is never served anyway. */
const PURGE_MARK_TTL_MS = 7 * 24 * 3_600_000;

/** Records in the store that every copy, or one subgraph's, was purged now (for the held answers of every instance). */
export async function markPurged(store: CacheStore, subgraph: string | undefined): Promise<void> {
  await store.set(subgraph === undefined ? PURGED : `${PURGED}:${subgraph}`, '1', PURGE_MARK_TTL_MS);
}

/**
 * Calls' first answers, held in this process (one byte budget for every subgraph) while the shared
 * store gets a call's copy only from its next answer: most calls of a workload of ever-new pages are
 * answered once, and writing each answer to Redis was the largest cost of the fallback cache (the
 * answer's bytes through the loopback socket, 18 KB per request on the benchmark's varied page).
 * A held answer serves this instance's fallbacks as a copy would. What it gives up: another
 * instance cannot serve a call this one saw only once.
 *
 * A purge on this instance forgets the held answers it covers; a purge on another one (or a purge
 * of the store by any other means) leaves its time in the store ({@link markPurged}), which is read
 * before a held answer is served: one held before the purge is not served, unless the store cannot
 * be read, when the held answer is the fallback that still works.
 */
export class HeldAnswers {
  private readonly held: LRUCache<string, HeldAnswer>;

  constructor(
    maxBytes: number,
    private readonly store: CacheStore,
  ) {
    // Strings of these answers are one byte per character: their length is their size.
    this.held = new LRUCache<string, HeldAnswer>({
      maxSize: maxBytes,
      maxEntrySize: maxBytes,
      sizeCalculation: (answer, key) => answer.body.length + key.length,
    });
  }

  hold(key: string, body: string, now = Date.now()): void {
    this.held.set(key, { body, at: now });
  }

  /** The call's copy went to the store: the held answer is not needed any more. */
  drop(key: string): void {
    this.held.delete(key);
  }

  /** The held answer of a call, if any and younger than `ttlMs` (without asking the store about purges). */
  peek(key: string, ttlMs: number, now = Date.now()): HeldAnswer | undefined {
    const answer = this.held.get(key);
    if (!answer) return undefined;
    if (now - answer.at >= ttlMs) {
      this.held.delete(key);
      return undefined;
    }
    return answer;
  }

  /**
   * Whether a held answer may be served: no purge of every copy or of its subgraph recorded in the
   * store since it was held (the purging instance's clock against this one's). The marks are read
   * within `timeoutMs`, as a copy is; when they cannot be read the held answer is served, the
   * fallback that still works. One found purged is forgotten.
   */
  async servable(key: string, subgraph: string, answer: HeldAnswer, timeoutMs: number): Promise<boolean> {
    const read = (mark: string) => (this.store.kind === 'memory' ? this.store.get(mark) : withTimeout(this.store.get(mark), timeoutMs));
    const marks = await Promise.all([read(PURGED), read(`${PURGED}:${subgraph}`)]).catch(() => []);
    const purged = marks.some((mark) => mark !== undefined && mark.storedAt >= answer.at);
    if (purged) this.held.delete(key);
    return !purged;
  }

  /** Forgets the held answers of every subgraph, or of one (a purge on this instance). */
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

  /** Bytes held now (a gauge's value). */
  get bytes(): number {
    return this.held.calculatedSize;
  }
}
