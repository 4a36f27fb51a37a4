import type { FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import { z } from 'zod';
import { addressKey } from '../auth/principal.js';
import { positiveInt } from '../config-kit.js';
import { requestState } from '../context.js';
import { GatewayError } from '../errors.js';
import type { BudgetStore, LimitSpec } from '../rate-limit/budget.js';
import { BudgetStoreUnavailableError } from '../rate-limit/failover-store.js';
import { rateLimitHeaders, retryAfterHeader, type RateLimitHeaderOptions } from '../rate-limit/headers.js';

/**
 * A route's own request limit, separate from the client's budget of cost points but kept in the
 * same store (Redis, with the same Lua scripts, so every instance counts against one limit): each
 * request takes one point from the caller's bucket or window for this route.
 */
const by = z
  .enum(['principal', 'apiKey', 'ip'])
  .default('principal')
  .describe(
    'Whose requests are counted together: `principal` (its clientKey: user, API key, or IP when anonymous), `apiKey` (the key; callers without one by IP), `ip` (the client address, see `server.trustedProxies`).',
  );
const policyName = z
  .string()
  .regex(/^[\w.-]+$/)
  .default('route')
  .describe('Name of the limit in `RateLimit-Policy` and `RateLimit` headers.');

export const RouteLimitSchema = z
  .discriminatedUnion('kind', [
    z
      .object({
        kind: z.literal('token_bucket'),
        by,
        name: policyName,
        capacity: positiveInt.describe('Most requests in a burst.'),
        refillPerSecond: z.number().positive().describe('Requests added back per second.'),
      })
      .strict(),
    z
      .object({
        kind: z.literal('sliding_window'),
        by,
        name: policyName,
        limit: positiveInt.describe('Requests allowed per window.'),
        windowSeconds: positiveInt.describe('Length of the window.'),
      })
      .strict(),
  ])
  .describe("The route's own request limit (429 `RATE_LIMITED` when reached); unset: none. Independent of `cost`.");

export type RouteLimitConfig = z.output<typeof RouteLimitSchema>;

/** The caller's key for a route's limit: the route and who is counted, e.g. `rest:/legacy:ip:10.0.0.7`. */
export function routeLimitKey(route: string, limit: RouteLimitConfig, request: FastifyRequest): string {
  const principal = requestState(request).principal;
  // An IPv6 caller by its /64, as anonymous budgets count it (auth/principal.ts).
  const ip = addressKey(principal?.clientIp ?? request.ip);
  let who: string;
  if (limit.by === 'ip') who = `ip:${ip}`;
  else if (limit.by === 'apiKey') who = principal?.keyId !== undefined ? `key:${principal.keyId}` : `ip:${ip}`;
  else who = principal?.clientKey ?? `ip:${ip}`;
  return `rest:${route}:${who}`;
}

function specOf(limit: RouteLimitConfig): LimitSpec {
  return limit.kind === 'token_bucket'
    ? { name: limit.name, kind: 'token_bucket', capacity: limit.capacity, refillPerSecond: limit.refillPerSecond }
    : { name: limit.name, kind: 'sliding_window', limit: limit.limit, windowSeconds: limit.windowSeconds };
}

/**
 * The hook that takes one request from the route's limit: 429 `RATE_LIMITED` with `Retry-After` and
 * the rate-limit headers when it is reached, 503 `RATE_LIMIT_UNAVAILABLE` when the store is down
 * and failing closed. Its headers join those of the cost charge (one more item in the IETF lists;
 * the legacy `X-RateLimit-*` describe whichever has fewer left).
 */
export function limitRequests(
  routeOf: (request: FastifyRequest) => { name: string; limit: RouteLimitConfig | undefined },
  store: BudgetStore | undefined,
  headerOptions: RateLimitHeaderOptions,
): onRequestAsyncHookHandler {
  return async (request, reply) => {
    const { name, limit } = routeOf(request);
    if (!limit || !store) return;
    const spec = specOf(limit);
    let charged;
    try {
      charged = await store.charge(routeLimitKey(name, limit, request), 1, [spec]);
    } catch (error) {
      if (error instanceof BudgetStoreUnavailableError) throw new GatewayError('RATE_LIMIT_UNAVAILABLE', undefined, { 'retry-after': '1' });
      throw error;
    }
    const headers = rateLimitHeaders(charged.limits, headerOptions);
    if (!charged.allowed) {
      const retry = retryAfterHeader(charged.retryAfterSeconds ?? 86_400);
      throw new GatewayError('RATE_LIMITED', `This route's limit of requests is reached: retry after ${retry} s.`, {
        ...headers,
        'retry-after': retry,
      });
    }
    mergeLimitHeaders(reply, headers);
  };
}

/** Adds a limit's headers to those already on the reply (another limit's). */
export function mergeLimitHeaders(reply: FastifyReply, headers: Record<string, string>): void {
  const remaining = (value: unknown) => (value === undefined ? Infinity : Number(value));
  const legacyWins = remaining(headers['x-ratelimit-remaining']) < remaining(reply.getHeader('x-ratelimit-remaining'));
  for (const [name, value] of Object.entries(headers)) {
    const existing = reply.getHeader(name);
    if (name === 'ratelimit' || name === 'ratelimit-policy')
      reply.header(name, existing === undefined ? value : `${String(existing)}, ${value}`);
    else if (existing === undefined || legacyWins) reply.header(name, value);
  }
}
