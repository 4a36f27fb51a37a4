import { describe, expect, it } from 'vitest';
import { KeptCopies } from '../gateway/src/subgraph/kept-copies.js';

const settings = { cacheTtlMs: 10_000, refreshAfterMs: 1_000 };

describe('which answers an instance writes to the fallback cache', () => {
  it("writes a call's first two answers, skips answers within refreshAfterMs, then writes only changed answers until the copy is half its TTL old", () => {
    const kept = new KeptCopies();
    expect(kept.decide('k', 'A', settings, 0)).toBe('write');
    expect(kept.decide('k', 'B', settings, 999)).toBe('skip');
    // The first answer is not fingerprinted (most calls are answered once): the second is written.
    expect(kept.decide('k', 'A', settings, 1_000)).toBe('write');
    expect(kept.decide('k', 'A', settings, 2_000)).toBe('unchanged');
    expect(kept.decide('k', 'A', settings, 5_999)).toBe('unchanged');
    expect(kept.decide('k', 'B', settings, 6_000)).toBe('write');
    expect(kept.decide('k', 'B', settings, 7_000)).toBe('unchanged');
    expect(kept.decide('k', 'B', settings, 11_000)).toBe('write');
    // Another call is its own.
    expect(kept.decide('other', 'B', settings, 10_000)).toBe('write');
  });

  it('writes every answer with refreshAfterMs 0', () => {
    const kept = new KeptCopies();
    const always = { ...settings, refreshAfterMs: 0 };
    expect([0, 1, 2].map((now) => kept.decide('k', 'A', always, now))).toEqual(['write', 'write', 'write']);
  });

  it('writes the next answer after a failed write, and counts a rewritten copy from its rewrite', () => {
    const kept = new KeptCopies();
    expect(kept.decide('k', 'A', settings, 0)).toBe('write');
    expect(kept.decide('k', 'A', settings, 1_000)).toBe('write');
    kept.forget('k');
    expect(kept.decide('k', 'A', settings, 1_001)).toBe('write');
    expect(kept.decide('k', 'A', settings, 2_001)).toBe('write');
    expect(kept.decide('k', 'A', settings, 2_002)).toBe('skip');
    expect(kept.decide('k', 'A', settings, 3_001)).toBe('unchanged');
    kept.rewritten('k', 3_001);
    expect(kept.decide('k', 'A', settings, 3_500)).toBe('skip');
    expect(kept.decide('k', 'A', settings, 8_000)).toBe('unchanged');
    expect(kept.decide('k', 'A', settings, 8_001)).toBe('write');
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
