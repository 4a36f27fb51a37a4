import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';

/**
 * Cross-origin access per REST route. A route's `cors` replaces the gateway-wide `server.cors` for
 * that route (no merging: what the route says is the whole policy); a route without one follows
 * `server.cors`. The passthrough answers preflights itself, before authentication, limits and the
 * upstream, and owns the CORS headers of the route's answers (the upstream's own are dropped).
 */
const origin = z
  .string()
  .regex(
    /^(\*|https?:\/\/(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*(:\d{1,5})?)$/,
    '`*`, or `scheme://host[:port]` where host may start with `*.` (any name below it)',
  )
  .transform((value) => value.toLowerCase());

export const RouteCorsSchema = z
  .object({
    origins: z
      .array(origin)
      .describe(
        'Origins allowed: exact `https://app.example.com[:port]`, `https://*.example.com` (any name below it, not the domain itself), or `*`. Empty: no CORS on this route, whatever `server.cors` says.',
      ),
    methods: z
      .array(z.string().regex(/^[A-Z]+$/))
      .min(1)
      .optional()
      .describe("Methods announced in `Access-Control-Allow-Methods`; unset: the route's `methods`."),
    allowedHeaders: z
      .array(z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/))
      .optional()
      .describe('Request headers allowed (`Access-Control-Allow-Headers`); unset: whatever the preflight asks for.'),
    exposedHeaders: z
      .array(z.string().min(1))
      .default([])
      .describe('Response headers a browser script may read, besides the simple ones and the request id header.'),
    credentials: z.boolean().default(false).describe('Send `Access-Control-Allow-Credentials: true`. Refused with a `*` origin.'),
    maxAgeSeconds: z.number().int().nonnegative().default(600).describe('How long a browser may cache the preflight answer.'),
  })
  .strict()
  .refine((cors) => !(cors.credentials && cors.origins.includes('*')), {
    path: ['credentials'],
    message: 'cannot be true with a `*` origin: list the origins allowed to send credentials',
  })
  .describe("This route's CORS policy, replacing `server.cors` for it; preflights are answered before auth and never reach the upstream.");

export type RouteCorsConfig = z.output<typeof RouteCorsSchema>;

/** The gateway-wide policy (`server.cors`), as routes without their own follow it. */
export interface GatewayCors {
  origins: string[];
  credentials: boolean;
  methods: string[];
  maxAgeSeconds: number;
}

export interface CorsPolicy {
  /** Whether `origin` (the request's `Origin`, lower-cased) may call the route. */
  allows(origin: string): boolean;
  /** `*` when any origin may call without credentials: the answer then names no origin. */
  anyOrigin: boolean;
  credentials: boolean;
  methods: string;
  allowedHeaders: string | undefined;
  exposedHeaders: string;
  maxAge: string;
}

/** The route's policy: its own `cors`, else the gateway-wide one; undefined: no CORS on the route. */
export function compileCors(
  own: RouteCorsConfig | undefined,
  gateway: GatewayCors,
  routeMethods: readonly string[],
  requestIdHeader: string,
): CorsPolicy | undefined {
  const origins = (own?.origins ?? gateway.origins).map((value) => value.toLowerCase());
  if (origins.length === 0) return undefined;
  const credentials = own ? own.credentials : gateway.credentials;
  const exact = new Set(origins.filter((value) => !value.includes('*')));
  const wildcards = origins
    .filter((value) => value !== '*' && value.includes('*'))
    .map((value) => {
      const [scheme, rest] = value.split('://*.') as [string, string];
      return { prefix: `${scheme}://`, suffix: `.${rest}` };
    });
  const any = origins.includes('*');
  return {
    allows: (value) =>
      any ||
      exact.has(value) ||
      wildcards.some(({ prefix, suffix }) => {
        if (!value.startsWith(prefix) || !value.endsWith(suffix)) return false;
        const label = value.slice(prefix.length, value.length - suffix.length);
        return /^[a-z0-9-]+(\.[a-z0-9-]+)*$/.test(label);
      }),
    anyOrigin: any && !credentials,
    credentials,
    methods: (own?.methods ?? (own ? routeMethods : gateway.methods)).join(', '),
    allowedHeaders: own?.allowedHeaders?.join(', '),
    exposedHeaders: [requestIdHeader, ...(own?.exposedHeaders ?? [])].join(', '),
    maxAge: String(own?.maxAgeSeconds ?? gateway.maxAgeSeconds),
  };
}

/** A CORS preflight: OPTIONS with `Origin` and `Access-Control-Request-Method`. */
export function preflightMethod(request: FastifyRequest): string | undefined {
  const method = request.headers['access-control-request-method'];
  return request.method === 'OPTIONS' && typeof request.headers.origin === 'string' && typeof method === 'string'
    ? method.toUpperCase()
    : undefined;
}

/** Requests whose answer carries the gateway's CORS headers: the upstream's own are dropped. */
const governed = new WeakSet<FastifyRequest>();

/** Answers a preflight in full (204); nothing else runs for it. A disallowed origin gets no CORS headers. */
export function answerPreflight(policy: CorsPolicy, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const origin = String(request.headers.origin).toLowerCase();
  reply.header('vary', policy.allowedHeaders ? 'Origin' : 'Origin, Access-Control-Request-Headers');
  if (policy.allows(origin)) {
    allowOrigin(policy, request, reply);
    reply.header('access-control-allow-methods', policy.methods);
    const asked = request.headers['access-control-request-headers'];
    const headers = policy.allowedHeaders ?? (typeof asked === 'string' ? asked : undefined);
    if (headers) reply.header('access-control-allow-headers', headers);
    reply.header('access-control-max-age', policy.maxAge);
  }
  return reply.code(204).send();
}

/** Sets the CORS headers of an actual (not preflight) request's answer, whatever answers it. */
export function applyCors(policy: CorsPolicy, request: FastifyRequest, reply: FastifyReply): void {
  governed.add(request);
  reply.header('vary', 'Origin');
  const origin = request.headers.origin;
  if (typeof origin !== 'string' || !policy.allows(origin.toLowerCase())) return;
  allowOrigin(policy, request, reply);
  reply.header('access-control-expose-headers', policy.exposedHeaders);
}

function allowOrigin(policy: CorsPolicy, request: FastifyRequest, reply: FastifyReply): void {
  reply.header('access-control-allow-origin', policy.anyOrigin ? '*' : String(request.headers.origin));
  if (policy.credentials) reply.header('access-control-allow-credentials', 'true');
}

/** An upstream's response headers, on a route whose CORS the gateway owns: without its `Access-Control-*`, `Vary` keeping `Origin`. */
export function withoutUpstreamCors<H extends Record<string, string | string[] | undefined>>(
  request: FastifyRequest | undefined,
  headers: H,
): H {
  if (!request || !governed.has(request)) return headers;
  for (const name of Object.keys(headers)) if (name.toLowerCase().startsWith('access-control-')) delete headers[name];
  const vary = headers.vary;
  const values = (Array.isArray(vary) ? vary.join(',') : (vary ?? ''))
    .split(',')
    .map((value) => value.trim())
    .filter(Boolean);
  if (!values.some((value) => value.toLowerCase() === 'origin' || value === '*')) values.push('Origin');
  (headers as Record<string, string>).vary = values.join(', ');
  return headers;
}
