import type { LimitState } from './budget.js';

export interface RateLimitHeaderOptions {
  /** `RateLimit-Policy` and `RateLimit` (IETF httpapi rate-limit headers draft, structured fields). */
  ietf: boolean;
  /** `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset` (delta seconds). */
  legacy: boolean;
}

/**
 * The limit that refuses first: costs are charged to every limit alike, so it is the one with the
 * fewest points left.
 */
export function bindingLimit(states: readonly LimitState[]): LimitState | undefined {
  let binding: LimitState | undefined;
  for (const state of states) if (!binding || state.remaining < binding.remaining) binding = state;
  return binding;
}

/**
 * Headers that tell a client where it stands. In the IETF format each limit is one list item:
 * `RateLimit-Policy: "burst";q=1000;w=20, "daily";q=100000;w=86400` (q: points, w: seconds over which
 * they are restored) and `RateLimit: "burst";r=640;t=8` (r: points left, t: seconds until full).
 * The legacy headers describe the binding limit.
 */
export function rateLimitHeaders(states: readonly LimitState[], options: RateLimitHeaderOptions): Record<string, string> {
  const headers: Record<string, string> = {};
  if (states.length === 0) return headers;
  if (options.ietf) {
    headers['ratelimit-policy'] = states
      .map((s) => `${sfString(s.name)};q=${Math.floor(s.max)};w=${wholeSeconds(s.max / s.restoreRate)}`)
      .join(', ');
    headers.ratelimit = states
      .map((s) => `${sfString(s.name)};r=${Math.max(0, Math.floor(s.remaining))};t=${Math.ceil(s.resetSeconds)}`)
      .join(', ');
  }
  const binding = bindingLimit(states);
  if (options.legacy && binding) {
    headers['x-ratelimit-limit'] = String(Math.floor(binding.max));
    headers['x-ratelimit-remaining'] = String(Math.max(0, Math.floor(binding.remaining)));
    headers['x-ratelimit-reset'] = String(Math.ceil(binding.resetSeconds));
  }
  return headers;
}

/** `Retry-After` in whole seconds, at least 1 (a client that retries at once is refused again). */
export function retryAfterHeader(seconds: number): string {
  return String(Math.max(1, Math.ceil(seconds)));
}

/** `extensions.cost.throttleStatus`, as Shopify's GraphQL APIs report it, for the binding limit. */
export function throttleStatus(states: readonly LimitState[]) {
  const binding = bindingLimit(states);
  if (!binding) return undefined;
  return {
    maximumAvailable: binding.max,
    currentlyAvailable: Math.max(0, Math.floor(binding.remaining)),
    restoreRate: binding.restoreRate,
  };
}

/** Seconds rounded up, ignoring float noise (5000 / (5000 / 86400) is 86400.00000000001). */
function wholeSeconds(seconds: number): number {
  return Math.ceil(seconds - 1e-6);
}

/** A structured-field string (RFC 8941): quoted, with `"` and `\` escaped. */
function sfString(value: string): string {
  return `"${value.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
}
