import { describe, expect, it } from 'vitest';
import { KeptCopies, type KeepDecision } from '../gateway/src/cache/kept-copies.js';

const settings = { cacheTtlMs: 10_000, refreshAfterMs: 1_000 };

describe('which answers an instance writes to the fallback cache', () => {
  it("writes a call's first two answers, looks at its answers once per refreshAfterMs, then writes only changed answers until the copy is half its TTL old", () => {
    const kept = new KeptCopies();
    // [answer, time, decision], one call's answers in order.
    const steps: [string, number, KeepDecision][] = [
      ['A', 0, 'write'],
      ['B', 999, 'skip'],
      // The first answer is not fingerprinted (most calls are answered once): the second is written.
      ['A', 1_000, 'write'],
      ['A', 2_000, 'unchanged'],
      // A hot call: answers within refreshAfterMs of the last check are neither hashed nor checked again.
      ['A', 2_001, 'skip'],
      ['A', 2_999, 'skip'],
      ['A', 5_999, 'unchanged'],
      ['A', 6_998, 'skip'],
      ['B', 7_000, 'write'],
      ['B', 8_000, 'unchanged'],
      ['B', 12_000, 'write'],
    ];
    expect(steps.map(([answer, now]) => kept.decide('k', answer, settings, now))).toEqual(steps.map(([, , decision]) => decision));
    // What its caller asks first, to skip an answer without scanning it: the same as a `skip`.
    expect(kept.lookedAtLately('k', settings, 12_999)).toBe(true);
    expect(kept.lookedAtLately('k', settings, 13_000)).toBe(false);
    expect(kept.lookedAtLately('k', { ...settings, refreshAfterMs: 0 }, 12_001)).toBe(false);
    expect(kept.lookedAtLately('unknown', settings, 12_001)).toBe(false);
    // Another call is its own.
    expect(kept.decide('other', 'B', settings, 12_000)).toBe('write');
  });

  it('writes every answer with refreshAfterMs 0, and forgets what it knew of the call', () => {
    const kept = new KeptCopies();
    const always = { ...settings, refreshAfterMs: 0 };
    kept.decide('k', 'A', settings, 0);
    kept.decide('k', 'A', settings, 1_000);
    expect([2_000, 2_001, 2_002].map((now) => kept.decide('k', 'A', always, now))).toEqual(['write', 'write', 'write']);
    // Back to a refresh interval (a reload): the answers written meanwhile were not recorded, so the next is written.
    expect(kept.decide('k', 'A', settings, 3_000)).toBe('write');
  });

  it('rewrites an unchanged copy found gone only if no newer answer was decided since', () => {
    const kept = new KeptCopies();
    kept.decide('k', 'A', settings, 0);
    kept.decide('k', 'A', settings, 1_000);
    expect(kept.decide('k', 'A', settings, 2_000)).toBe('unchanged');
    const since = kept.writtenAt('k') as number;
    expect(kept.rewritten('k', since, settings, 2_010)).toBe(true);
    // Rewritten at 2_010: half its TTL later, not before, the unchanged answer is written again.
    expect(kept.decide('k', 'A', settings, 7_009)).toBe('unchanged');
    expect(kept.decide('k', 'A', settings, 8_010)).toBe('write');

    // The copy of an unchanged answer is found gone, but a changed answer was decided before the repair:
    // writing the older answer now would overwrite the newer one.
    expect(kept.decide('k', 'A', settings, 9_010)).toBe('unchanged');
    const before = kept.writtenAt('k') as number;
    expect(kept.decide('k', 'B', settings, 10_010)).toBe('write');
    expect(kept.rewritten('k', before, settings, 10_011)).toBe(false);
  });

  it('uses the TTL a copy was written with for its rewrite, whatever a reload sets since', () => {
    const kept = new KeptCopies();
    kept.decide('k', 'A', settings, 0);
    kept.decide('k', 'A', settings, 1_000);
    // Written with a 10 s TTL at 1_000: rewritten from 6_000, even with a longer TTL configured now.
    expect(kept.decide('k', 'A', { ...settings, cacheTtlMs: 60_000 }, 6_000)).toBe('write');
  });

  it('writes the next answer after a failed write', () => {
    const kept = new KeptCopies();
    kept.decide('k', 'A', settings, 0);
    kept.decide('k', 'A', settings, 1_000);
    kept.forget('k');
    expect(kept.decide('k', 'A', settings, 1_001)).toBe('write');
  });

  it('ages a copy from the last identical answer it saw, and only a copy holding that answer', () => {
    const kept = new KeptCopies();
    kept.decide('k', 'A', settings, 0);
    // Not fingerprinted yet: the copy's own time.
    expect(kept.confirmedAt('k', 0, 'A')).toBe(0);
    kept.decide('k', 'A', settings, 1_000);
    kept.decide('k', 'A', settings, 3_000);
    expect(kept.confirmedAt('k', 1_000, 'A')).toBe(3_000);
    // Another instance wrote a different answer: its own time counts.
    expect(kept.confirmedAt('k', 2_000, 'B')).toBe(2_000);
    // A later write of the same answer, by another instance, is newer than what this one saw.
    expect(kept.confirmedAt('k', 3_500, 'A')).toBe(3_500);
    expect(kept.confirmedAt('unknown', 1_000, 'A')).toBe(1_000);
  });
});
