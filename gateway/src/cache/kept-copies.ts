import { hash } from 'node:crypto';
import { LRUCache } from 'lru-cache';

/** What this instance last wrote for one call, and when the subgraph last gave that very answer. */
interface KeptCopy {
  /**
   * SHA-256 of the answer's body: an unchanged answer is recognised without keeping the body.
   * Undefined after a call's first answer: most calls are answered once, and hashing every first
   * answer cost 1% of the gateway's CPU on the benchmark's varied page.
   */
  fingerprint: string | undefined;
  writtenAt: number;
  /** The last answer looked at (written, or found unchanged): the next is looked at `refreshAfterMs` later. */
  confirmedAt: number;
  /** Half the TTL the copy was written with: an unchanged answer is written again from then on. */
  rewriteAt: number;
}

/** The fallback settings the write rule reads (per call, so a config reload applies at once). */
export interface KeptCopySettings {
  cacheTtlMs: number;
  refreshAfterMs: number;
}

/**
 * What to do with an answer: `write` it; `hold` it in memory (a call's first answer, when its
 * caller holds first answers: see HeldAnswers); `skip` it (this call's copy was written or checked
 * moments ago); or, `unchanged`, write it only if its copy is gone (purged, evicted, or lost with a
 * Redis server), which the store is asked about: a question costs it a few bytes where a write
 * costs the whole answer. Before that repair write, {@link KeptCopies.rewritten} says whether it is
 * still due.
 */
export type KeepDecision = 'write' | 'hold' | 'skip' | 'unchanged';

/** What carrying out a decision needs of the store, for one answer (see {@link KeptCopies.keep}). */
export interface CopyWrites {
  /** Writes the answer's copy. */
  write(): Promise<unknown>;
  /** Whether the copy is still in the store. */
  present(): Promise<boolean>;
  /** Writes an unchanged answer whose copy was gone; `write` when unset. */
  rewrite?(): Promise<unknown>;
}

/** How many calls per subgraph this instance remembers; a forgotten one's next answer is a first answer again. */
const REMEMBERED_CALLS = 10_000;

/**
 * This instance's record of the fallback copies it wrote, which decides whether an answer is
 * written to the fallback cache. A call's answers are looked at at most once per `refreshAfterMs`
 * (the others are skipped, neither hashed nor written); one looked at is written when the call has
 * no copy from this instance, when the copy holds a different answer or the call's first one, or
 * when the copy is half its TTL old (so a call answered at least that often never loses its copy).
 * An unchanged answer is otherwise not written again: the copy holds it already. The subgraph's
 * last identical answer is remembered instead, and a copy this instance serves counts its age from
 * it, as if it had been rewritten then. `refreshAfterMs: 0` writes every answer and keeps no record.
 * A caller that holds first answers in memory gets `hold` for a call's first answer instead of
 * `write`: the call's copy is written from its next answer looked at (`refreshAfterMs` later or
 * more), and a call this record forgot is a first answer again.
 */
export class KeptCopies {
  /** Made at the first answer kept: the LRU allocates its arrays for its bound up front. */
  private copies: LRUCache<string, KeptCopy> | undefined;

  /** `holdFirst`: a call's first answer is held, not written; its next answer looked at is written. */
  decide(key: string, body: string, settings: KeptCopySettings, now = Date.now(), holdFirst = false): KeepDecision {
    if (settings.refreshAfterMs <= 0) {
      // A record left from before a reload to 0 would not know of the writes made meanwhile.
      this.copies?.delete(key);
      return 'write';
    }
    this.copies ??= new LRUCache<string, KeptCopy>({ max: REMEMBERED_CALLS });
    const kept = this.copies.get(key);
    if (!kept) {
      // Held or written, the record is the same: no fingerprint, so the next answer looked at is written.
      this.copies.set(key, written(undefined, settings, now));
      return holdFirst ? 'hold' : 'write';
    }
    if (lookedAtLately(kept, settings, now)) return 'skip';
    const fingerprint = fingerprintOf(body);
    if (kept.fingerprint === fingerprint && now < kept.rewriteAt) {
      kept.confirmedAt = now;
      return 'unchanged';
    }
    this.copies.set(key, written(fingerprint, settings, now));
    return 'write';
  }

  /** Whether the call's last answer looked at is less than `refreshAfterMs` old: the next is skipped, so its caller need not scan it. */
  lookedAtLately(key: string, settings: KeptCopySettings, now = Date.now()): boolean {
    const kept = this.copies?.get(key);
    return kept !== undefined && settings.refreshAfterMs > 0 && lookedAtLately(kept, settings, now);
  }

  /** When this instance last wrote the call's copy (taken with an `unchanged` decision, for {@link rewritten}). */
  writtenAt(key: string): number | undefined {
    return this.copies?.get(key)?.writtenAt;
  }

  /**
   * An unchanged answer's copy was gone: whether to write it now. Not when another answer was
   * decided for the call since (`writtenAt` moved): that one is newer and already on its way.
   */
  rewritten(key: string, writtenAt: number, settings: KeptCopySettings, now = Date.now()): boolean {
    const kept = this.copies?.get(key);
    if (!kept || kept.writtenAt !== writtenAt) return false;
    this.copies?.set(key, written(kept.fingerprint, settings, now));
    return true;
  }

  /**
   * Carries out a `write` or `unchanged` decision (the others need nothing of the store): writes the
   * answer, or asks whether its copy is still there and writes it again if it is gone and still due
   * ({@link rewritten}). A failure forgets the call, so its next answer is written, then goes to
   * `onError`. Not awaited: the answer does not wait for its copy.
   */
  keep(decision: KeepDecision, key: string, settings: KeptCopySettings, store: CopyWrites, onError: (error: unknown) => void): void {
    const failed = (error: unknown) => {
      this.forget(key);
      onError(error);
    };
    if (decision === 'write') {
      store.write().catch(failed);
    } else if (decision === 'unchanged') {
      const writtenAt = this.writtenAt(key) ?? 0;
      store
        .present()
        .then((present) => {
          if (present || !this.rewritten(key, writtenAt, settings)) return;
          return (store.rewrite ?? store.write)();
        })
        .catch(failed);
    }
  }

  /** A write failed: the next answer is written, whatever it is. */
  forget(key: string): void {
    this.copies?.delete(key);
  }

  /**
   * When the subgraph last gave the answer a copy holds: `storedAt`, or later when this instance
   * since saw the same answer and did not rewrite it.
   */
  confirmedAt(key: string, storedAt: number, body: string): number {
    const kept = this.copies?.get(key);
    if (!kept?.fingerprint || kept.confirmedAt <= storedAt || fingerprintOf(body) !== kept.fingerprint) return storedAt;
    return kept.confirmedAt;
  }
}

function lookedAtLately(kept: KeptCopy, settings: KeptCopySettings, now: number): boolean {
  return now - kept.confirmedAt < settings.refreshAfterMs;
}

function written(fingerprint: string | undefined, settings: KeptCopySettings, now: number): KeptCopy {
  return { fingerprint, writtenAt: now, confirmedAt: now, rewriteAt: now + settings.cacheTtlMs / 2 };
}

function fingerprintOf(body: string): string {
  return hash('sha256', body, 'base64');
}
