import { z } from 'zod';
import type { AuthConfig } from '../auth/config.js';
import { durationMs, durationOrZeroMs, positiveInt, withDefaults } from '../config-kit.js';
import { HeaderRuleSetSchema } from '../headers/config.js';
import type { ServerConfig } from '../http/config.js';
import type { RateLimitConfig } from '../rate-limit/config.js';
import type { SubgraphSections } from '../subgraph/config.js';
import { LoadBalancingOverrideSchema, RetryFields, mergeLoadBalancing, type LoadBalancingSettings } from '../upstream/config.js';
import { matchKey } from './match.js';
import { RouteLimitSchema } from './route-limit.js';
import { TransformSchema } from './transform-config.js';
import { SplitSchema } from './split.js';
import { RouteCorsSchema } from './cors.js';
import { WebSocketSchema } from './websocket.js';
import { DefaultTimeoutsSchema, RouteTimeoutsSchema } from './timeouts.js';
import { PredicateSchema, hostPattern, pathPattern, patternParams } from './match-config.js';

/**
 * REST passthrough routes (legacy APIs behind the same auth, budget, breakers and observability).
 * Each route is a path prefix proxied, streaming, to one upstream origin.
 */
const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
const pathPrefix = z
  .string()
  .regex(/^\/[A-Za-z0-9._~!$&'()*+,;=:@/-]*$/, 'a path starting with `/`, of unreserved characters (no `%`, `?`, `#`, `\\`)')
  .refine((value) => !value.split('/').some((segment) => segment === '.' || segment === '..'), 'no `.` or `..` segments')
  .transform((value) => (value.length > 1 ? value.replace(/\/+$/, '') : value));

const upstreamOrigin = z
  .url({ protocol: /^https?$/ })
  .refine((value) => new URL(value).pathname === '/', 'an origin only (put a path in `rewrite`)');

const RestRouteSchema = z
  .object({
    name: z
      .string()
      .regex(/^[A-Za-z0-9._:/=-]+$/, 'letters, digits and `._:/=-`')
      .optional()
      .describe(
        'Name of the route in metrics, logs, `/ready`, its breaker (`rest:<name>`) and its limits; unset: its `prefix`, `=<exact>` or `pattern`. Needed to tell apart two routes on the same path.',
      ),
    prefix: pathPrefix
      .optional()
      .describe(
        'Path prefix the route serves, e.g. `/legacy/users` (also matches everything below it). Give one of `prefix`, `exact`, `pattern`.',
      ),
    exact: pathPrefix.optional().describe('The one path the route serves, e.g. `/legacy/health` (nothing below it).'),
    pattern: pathPattern
      .optional()
      .describe('A path with named parameters, one whole segment each, e.g. `/users/:id/orders` (`rewrite` may use `:id`).'),
    host: hostPattern
      .optional()
      .describe(
        'Host the route serves (the `Host` header without its port): exact, or `*.example.com` for any name below it. Unset: any host.',
      ),
    headers: z
      .array(PredicateSchema)
      .min(1)
      .optional()
      .describe('Header predicates, all of which must hold: `{name, present}`, `{name, equals}` or `{name, regex}`.'),
    query: z
      .array(PredicateSchema)
      .min(1)
      .optional()
      .describe('Query parameter predicates, all of which must hold (values percent-decoded), as for `headers`.'),
    upstream: upstreamOrigin
      .optional()
      .describe('Origin the route forwards to, e.g. `http://users:4001` (TLS certificates are verified). Give this or `upstreams`.'),
    upstreams: z
      .array(
        z
          .object({
            url: upstreamOrigin.describe('Origin of one replica of the service.'),
            weight: positiveInt.max(1_000).default(1).describe('Its share of requests (see `subgraphs.<name>.upstreams`).'),
          })
          .strict(),
      )
      .min(1)
      .optional()
      .describe(
        'Replicas of the service, instead of `upstream`; with two or more, requests are balanced as for subgraphs (active checks only with `loadBalancing.healthCheck.path`).',
      ),
    loadBalancing: LoadBalancingOverrideSchema.optional().describe(
      "Overrides of `resilience.subgraphDefaults.loadBalancing` for this route's replicas.",
    ),
    rewrite: pathPrefix
      .optional()
      .describe(
        'Upstream path that replaces `prefix` (`/legacy/users/7` → `/api/v1/users/7`), or the whole path of an `exact` or `pattern` route (`:name` takes the parameter, `/api/v1/users/:id`); unset: the path is forwarded as is.',
      ),
    methods: z.array(z.enum(HTTP_METHODS)).min(1).default(['GET', 'HEAD']).describe('Methods allowed; others get 405 with `Allow`.'),
    auth: z
      .object({
        mode: z
          .enum(['required', 'optional'])
          .default('required')
          .describe('`required`: anonymous callers get 401; `optional`: anonymous callers pass (as far as `auth.required` allows).'),
        scopes: z.array(z.string().min(1)).default([]).describe('Scopes the caller must all hold (403 otherwise).'),
        forwardAuthorization: z
          .boolean()
          .default(false)
          .describe("Send the client's `Authorization` header on to the upstream (API keys never are)."),
      })
      .strict()
      .prefault({}),
    cost: z
      .number()
      .int()
      .min(0)
      .default(1)
      .describe("Budget points charged per request, to the same budget as the client's GraphQL operations (0: not charged)."),
    limit: RouteLimitSchema.optional(),
    transform: TransformSchema.optional(),
    split: SplitSchema.optional(),
    timeouts: RouteTimeoutsSchema.optional(),
    cors: RouteCorsSchema.optional(),
    websocket: WebSocketSchema,
    retries: z
      .object(withDefaults(RetryFields, { maxRetries: 1, baseDelayMs: 25, maxDelayMs: 250 }))
      .strict()
      .prefault({})
      .describe(
        'Retries after a connection error (no connection within `timeouts.connectMs` included) or a 502/503/504, for GET, HEAD and OPTIONS only (requests with bodies are streamed and never replayed).',
      ),
    breaker: z
      .string()
      .min(1)
      .optional()
      .describe(
        "Circuit breaker name: a subgraph's name shares that subgraph's breaker; unset: the route's own (`rest:<prefix>`, with `resilience.subgraphDefaults.breaker` settings).",
      ),
    maxConcurrent: positiveInt.default(100).describe('Requests in flight to this route at once; more fail fast with 503 (bulkhead).'),
    maxBodyBytes: positiveInt
      .optional()
      .describe(
        'Largest request body forwarded: a larger `Content-Length` is 413 before any upstream call, a longer chunked body is cut and answered 413. Unset: no limit (the upstream decides).',
      ),
    fallback: z
      .object({
        cache: z.boolean().default(false).describe('Keep 200 answers to GET and serve them (stale-if-error) when the upstream fails.'),
        public: z
          .boolean()
          .default(false)
          .describe('Answers are the same for every caller: one cached copy for all; otherwise copies are kept per principal.'),
        ttlMs: durationMs.default(300_000).describe('How long a kept answer may be served.'),
        maxBodyBytes: positiveInt.default(1_048_576).describe('Larger answers are streamed but not kept.'),
        refreshAfterMs: durationOrZeroMs
          .default(1_000)
          .describe(
            "This instance looks at a copy's answers at most once per this interval (the others are neither collected nor written); one it looks at is written when it differs from the copy, when the copy is gone, or when the copy is half its TTL old. 0: write every answer.",
          ),
      })
      .strict()
      .prefault({}),
    headerRules: HeaderRuleSetSchema.optional().describe(
      'Header rules for this route, both ways (see docs/headers.md); they run over what the route forwards without them. ' +
        '(`headers` is the match predicate on request headers.)',
    ),
  })
  .strict();

export const RestConfigSchema = z
  .object({
    timeouts: DefaultTimeoutsSchema,
    routes: z
      .array(RestRouteSchema)
      .default([])
      .describe('REST passthrough routes; a path under no route is 404 without any upstream call.'),
  })
  .strict()
  .prefault({})
  .superRefine((rest, ctx) => {
    const seen = new Map<string, number>();
    const names = new Set<string>();
    rest.routes.forEach((route, index) => {
      const paths = [route.prefix, route.exact, route.pattern].filter((value) => value !== undefined).length;
      if (paths !== 1) ctx.addIssue({ code: 'custom', path: ['routes', index], message: 'give exactly one of prefix, exact or pattern' });
      const key = matchKey(route);
      const same = seen.get(key);
      if (same !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['routes', index],
          message: `duplicate ${route.prefix !== undefined ? `prefix ${route.prefix}` : 'route'}: it matches exactly the same requests as routes[${same}]`,
        });
      else if (names.has(routeName(route)))
        ctx.addIssue({
          code: 'custom',
          path: ['routes', index, 'name'],
          message: `two routes named ${routeName(route)}: give each a distinct \`name\``,
        });
      seen.set(key, index);
      names.add(routeName(route));
      if (route.pattern !== undefined && route.rewrite !== undefined) {
        const params = new Set(patternParams(route.pattern));
        for (const used of route.rewrite.match(/:[A-Za-z_][A-Za-z0-9_]*/g) ?? [])
          if (!params.has(used.slice(1)))
            ctx.addIssue({ code: 'custom', path: ['routes', index, 'rewrite'], message: `${used} is not a parameter of ${route.pattern}` });
      }
      if ((route.upstream === undefined) === (route.upstreams === undefined)) {
        ctx.addIssue({ code: 'custom', path: ['routes', index, 'upstream'], message: 'give exactly one of upstream or upstreams' });
      }
      const origins = new Set<string>();
      route.upstreams?.forEach(({ url }, replica) => {
        if (origins.has(url))
          ctx.addIssue({ code: 'custom', path: ['routes', index, 'upstreams', replica, 'url'], message: `duplicate replica ${url}` });
        origins.add(url);
      });
    });
  });

export type RestRouteConfig = z.output<typeof RestRouteSchema>;

/** A route's name: `name`, else its `prefix`, `=<exact>` or `pattern` (metrics, logs, breaker, limits). */
export function routeName(route: Pick<RestRouteConfig, 'name' | 'prefix' | 'exact' | 'pattern'>): string {
  return route.name ?? route.prefix ?? (route.exact !== undefined ? `=${route.exact}` : (route.pattern ?? '/'));
}
export type RestMethod = (typeof HTTP_METHODS)[number];
export type RestConfig = z.output<typeof RestConfigSchema>;

/** The sections the REST passthrough reads: its routes, the breaker defaults it shares with subgraphs, auth and budgets. */
export interface RestSections extends SubgraphSections {
  rest: RestConfig;
  server: Pick<ServerConfig, 'requestIdHeader' | 'cors'>;
  auth: Pick<AuthConfig, 'apiKeys' | 'propagation' | 'realm'>;
  rateLimit: RateLimitConfig;
}

/**
 * What a route's balancing falls back on: `resilience.subgraphDefaults.loadBalancing` (declared in
 * subgraph/config.ts; named by its shape here, so rest/config.ts needs only upstream/config.ts).
 */
export interface RouteBalancingDefaults {
  resilience: { subgraphDefaults: { loadBalancing: LoadBalancingSettings } };
}

/** A REST route's `loadBalancing`: `resilience.subgraphDefaults.loadBalancing` with the route's overrides. */
export function routeLoadBalancing(config: RouteBalancingDefaults, route: RestRouteConfig): LoadBalancingSettings {
  return mergeLoadBalancing(config.resilience.subgraphDefaults.loadBalancing, route.loadBalancing);
}

/** A REST route's replicas when it lists two or more `upstreams`; undefined: one upstream, the plain path. */
export function routeReplicas(route: RestRouteConfig): { url: string; weight: number }[] | undefined {
  return route.upstreams && route.upstreams.length >= 2 ? route.upstreams : undefined;
}
