import { createHash } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Principal } from '../auth/principal.js';
import { PredicateSchema } from './match-config.js';
import { compilePredicate } from './match.js';

/**
 * A route's traffic split (canary): requests that match the split's header or cookie predicates,
 * and a weighted share of the others, go to another upstream. With `sticky`, the share is chosen by
 * a hash of the caller (principal, a header or a cookie), so one caller stays on one side.
 */
export const SplitSchema = z
  .object({
    upstream: z
      .url({ protocol: /^https?$/ })
      .refine((value) => new URL(value).pathname === '/', 'an origin only')
      .describe("Origin of the other upstream (the canary); the path is the route's own."),
    weight: z.number().min(0).max(100).default(0).describe('Percent of the remaining requests sent there (0–100, fractions allowed).'),
    headers: z.array(PredicateSchema).min(1).optional().describe('Requests matching all of these header predicates always go there.'),
    cookies: z.array(PredicateSchema).min(1).optional().describe('Requests matching all of these cookie predicates always go there.'),
    sticky: z
      .object({
        by: z
          .enum(['principal', 'header', 'cookie'])
          .describe('Whose hash picks the side: the principal (`clientKey`), a header or a cookie.'),
        name: z.string().min(1).optional().describe('The header or cookie name (with `by: header` or `by: cookie`).'),
      })
      .strict()
      .refine(
        (sticky) => (sticky.by === 'principal') === (sticky.name === undefined),
        'give `name` with `by: header` or `cookie`, only then',
      )
      .optional()
      .describe('Choose the weighted share by a hash of the caller (stable across requests and instances); unset: at random.'),
  })
  .strict()
  .describe("Send part of the route's traffic to another upstream; unset: none.");

export type SplitConfig = z.output<typeof SplitSchema>;

/** Cookie `name` from a `Cookie` header (the first one of that name). */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const index = part.indexOf('=');
    if (index > 0 && part.slice(0, index).trim() === name) return part.slice(index + 1).trim();
  }
  return undefined;
}

/** A point in [0, 10000) for a key: the first 4 bytes of its SHA-1 (the same on every instance). */
export function hashPoint(key: string): number {
  return createHash('sha1').update(key).digest().readUInt32BE(0) % 10_000;
}

/** Compiles a split: `goesToSplit(request, principal)` says whether this request goes to the other upstream. */
export function compileSplit(split: SplitConfig): (request: FastifyRequest, principal: Principal | undefined) => boolean {
  const headers = (split.headers ?? []).map((p) => ({ name: p.name.toLowerCase(), test: compilePredicate(p) }));
  const cookies = (split.cookies ?? []).map((p) => ({ name: p.name, test: compilePredicate(p) }));
  const threshold = split.weight * 100;
  const sticky = split.sticky;
  const first = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value);
  return (request, principal) => {
    if (headers.length > 0 || cookies.length > 0) {
      const cookie = first(request.headers.cookie);
      const matched =
        headers.every(({ name, test }) => test(first(request.headers[name]))) &&
        cookies.every(({ name, test }) => test(cookieValue(cookie, name)));
      if (matched) return true;
    }
    if (threshold <= 0) return false;
    if (threshold >= 10_000) return true;
    if (!sticky) return Math.random() * 10_000 < threshold;
    let key: string | undefined;
    if (sticky.by === 'principal') key = principal?.clientKey;
    else if (sticky.by === 'header') key = first(request.headers[(sticky.name ?? '').toLowerCase()]);
    else key = cookieValue(first(request.headers.cookie), sticky.name ?? '');
    // Without the key (no header, no cookie), the caller cannot be kept on one side: the primary.
    return key !== undefined && key !== '' && hashPoint(key) < threshold;
  };
}
