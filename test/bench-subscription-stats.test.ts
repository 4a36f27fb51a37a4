import { describe, expect, it } from 'vitest';
import { checkDelivery, percentile } from '../bench/subscription-stats.js';

describe('bench:subscriptions figures', () => {
  it('counts missing, duplicated and out-of-order events, ignoring events not meant for the subscriber', () => {
    expect(checkDelivery(['a', 'b', 'c'], ['a', 'b', 'c'])).toEqual({ missing: 0, duplicated: 0, outOfOrder: 0 });
    expect(checkDelivery(['a', 'b', 'c'], ['x', 'a', 'c'])).toEqual({ missing: 1, duplicated: 0, outOfOrder: 0 });
    expect(checkDelivery(['a', 'b', 'c'], ['a', 'a', 'b', 'c', 'c'])).toEqual({ missing: 0, duplicated: 2, outOfOrder: 0 });
    expect(checkDelivery(['a', 'b', 'c', 'd'], ['a', 'c', 'b', 'd'])).toEqual({ missing: 0, duplicated: 0, outOfOrder: 1 });
    expect(checkDelivery(['a', 'b'], [])).toEqual({ missing: 2, duplicated: 0, outOfOrder: 0 });
  });

  it('takes nearest-rank percentiles', () => {
    const values = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(values, 50)).toBe(50);
    expect(percentile(values, 99)).toBe(99);
    expect(percentile(values, 100)).toBe(100);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
  });
});
