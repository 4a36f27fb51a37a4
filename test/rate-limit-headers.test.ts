import { describe, expect, it } from 'vitest';
import type { LimitState } from '../gateway/src/rate-limit/budget.js';
import { bindingLimit, rateLimitHeaders, retryAfterHeader, throttleStatus } from '../gateway/src/rate-limit/headers.js';

const burst: LimitState = { name: 'burst', kind: 'token_bucket', max: 1000, remaining: 640.7, resetSeconds: 7.18, restoreRate: 50 };
const daily: LimitState = {
  name: 'daily',
  kind: 'sliding_window',
  max: 100_000,
  remaining: 99_000,
  resetSeconds: 3600.2,
  restoreRate: 100_000 / 86_400,
};

describe('rate-limit headers', () => {
  it('writes the IETF RateLimit-Policy and RateLimit fields, one item per limit', () => {
    expect(rateLimitHeaders([burst, daily], { ietf: true, legacy: false })).toEqual({
      'ratelimit-policy': '"burst";q=1000;w=20, "daily";q=100000;w=86400',
      ratelimit: '"burst";r=640;t=8, "daily";r=99000;t=3601',
    });
  });

  it('writes the X-RateLimit headers for the binding limit (fewest points left)', () => {
    expect(bindingLimit([daily, burst])).toBe(burst);
    expect(rateLimitHeaders([daily, burst], { ietf: false, legacy: true })).toEqual({
      'x-ratelimit-limit': '1000',
      'x-ratelimit-remaining': '640',
      'x-ratelimit-reset': '8',
    });
  });

  it('never reports negative points, escapes names, and sends nothing without limits', () => {
    const over = { ...burst, name: 'a "quoted" \\ name', remaining: -3 };
    expect(rateLimitHeaders([over], { ietf: true, legacy: true })).toMatchObject({
      ratelimit: '"a \\"quoted\\" \\\\ name";r=0;t=8',
      'x-ratelimit-remaining': '0',
    });
    expect(rateLimitHeaders([], { ietf: true, legacy: true })).toEqual({});
  });

  it('rounds Retry-After up, to at least a second, and reports throttle status', () => {
    expect(retryAfterHeader(0.2)).toBe('1');
    expect(retryAfterHeader(4.01)).toBe('5');
    expect(throttleStatus([daily, burst])).toEqual({ maximumAvailable: 1000, currentlyAvailable: 640, restoreRate: 50 });
  });
});
