/**
 * Path safety of the REST passthrough: maps the raw request target (exactly as the client sent it,
 * never a decoded form) to the upstream path, or refuses it. Refusing is deliberately stricter than
 * normalising: a legacy API has no business receiving `..`, so anything that a server, a framework
 * or a second decoding step could turn into a path outside the route's prefix is a 400 here and
 * never reaches the upstream:
 *
 * - `.` and `..` segments, also percent-encoded (`%2e`, any case) — `%2e` is refused everywhere;
 * - encoded `/` and `\` (`%2f`, `%5c`) and raw `\` (some servers treat it as `/`);
 * - `%25` (double encoding: `%252e%252e` decodes once to `%2e%2e`), `%00`, control characters;
 * - empty segments (`//`), and malformed percent-encoding;
 * - segments that start or end with `..` (`...x`): legal, but `@fastify/reply-from` refuses them.
 */

export type PathResult = { ok: true; path: string } | { ok: false; reason: string };

const FORBIDDEN_ENCODED = /%(2e|2f|5c|25|00)/i;
const MALFORMED_PERCENT = /%(?![0-9a-f]{2})/i;
// Request targets may carry only these (RFC 3986 pchar, `/`, `%`); anything else is refused.
const ALLOWED = /^[A-Za-z0-9._~!$&'()*+,;=:@/%-]*$/;

/**
 * The upstream path for `rawPath` (the request target without its query string) under a route
 * with `prefix`, replaced by `rewrite` (or kept). `rawPath` must be `prefix` or start with
 * `prefix/`; what follows is checked and appended unchanged (still percent-encoded).
 */
export function upstreamPath(rawPath: string, prefix: string, rewrite: string | undefined): PathResult {
  const base = rewrite ?? prefix;
  if (rawPath === prefix) return { ok: true, path: base };
  if (!rawPath.startsWith(prefix === '/' ? '/' : `${prefix}/`)) return { ok: false, reason: 'outside the route prefix' };
  const rest = prefix === '/' ? rawPath : rawPath.slice(prefix.length);
  if (!ALLOWED.test(rest)) return { ok: false, reason: 'character not allowed in a path' };
  if (MALFORMED_PERCENT.test(rest)) return { ok: false, reason: 'malformed percent-encoding' };
  if (FORBIDDEN_ENCODED.test(rest)) return { ok: false, reason: 'encoded dot, slash, backslash, percent or NUL' };
  const segments = rest.split('/').slice(1);
  // A trailing slash (`/legacy/users/`) is the one empty segment allowed.
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i];
    if (segment === '.' || segment === '..') return { ok: false, reason: 'dot segment' };
    // reply-from refuses any `/..` or `../` in a path, so `...x` and `..x` segments are refused here, as a 400.
    if (segment?.startsWith('..') || segment?.endsWith('..')) return { ok: false, reason: 'segment starting or ending with `..`' };
    if (segment === '' && i < segments.length - 1) return { ok: false, reason: 'empty segment' };
  }
  return { ok: true, path: base === '/' ? rest : `${base}${rest}` };
}

/** Splits a raw request target into path and query (`?…`, or empty). */
export function splitTarget(target: string): { path: string; query: string } {
  const index = target.indexOf('?');
  return index < 0 ? { path: target, query: '' } : { path: target.slice(0, index), query: target.slice(index) };
}

/** Why one path parameter's value (one raw segment) is refused, as {@link upstreamPath} would refuse it; undefined: safe. */
export function unsafeSegment(segment: string): string | undefined {
  if (!ALLOWED.test(segment) || segment.includes('/')) return 'character not allowed in a path';
  if (MALFORMED_PERCENT.test(segment)) return 'malformed percent-encoding';
  if (FORBIDDEN_ENCODED.test(segment)) return 'encoded dot, slash, backslash, percent or NUL';
  if (segment.startsWith('..') || segment.endsWith('..') || segment === '.') return 'dot segment';
  return undefined;
}

/** A route's path as configured: one of prefix, exact or pattern, and its rewrite. */
export interface RoutePath {
  prefix?: string | undefined;
  exact?: string | undefined;
  pattern?: string | undefined;
  rewrite?: string | undefined;
}

/**
 * The upstream path of a request the route matched: a prefix route as {@link upstreamPath}; an
 * exact route: `rewrite` or the path; a pattern route: `rewrite` with each `:name` replaced by the
 * parameter (still percent-encoded, checked segment by segment), or the path as it came.
 */
export function routeTarget(route: RoutePath, rawPath: string, params: Record<string, string>): PathResult {
  if (route.exact !== undefined) return { ok: true, path: route.rewrite ?? route.exact };
  if (route.pattern === undefined) return upstreamPath(rawPath, route.prefix ?? '/', route.rewrite);
  for (const value of Object.values(params)) {
    const reason = unsafeSegment(value);
    if (reason) return { ok: false, reason };
  }
  if (route.rewrite === undefined) return { ok: true, path: rawPath };
  return { ok: true, path: route.rewrite.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, (_, name: string) => params[name] ?? '') };
}
