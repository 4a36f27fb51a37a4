import type { IncomingHttpHeaders } from 'node:http';
import type { RoutePredicate } from './match-config.js';

/**
 * Route matching of the REST passthrough, compiled once at start-up. A route matches a request on
 * its host (exact or `*.suffix`), its path (prefix, exact, or a pattern with `:name` segments) and
 * its header and query predicates; its methods are checked last, so a request that matches a
 * route's path but none of its methods is a 405 (with `Allow`), as it always was.
 *
 * Order (most specific first, then config order), see {@link orderRoutes}:
 * 1. host: an exact host, then wildcards (longest suffix first), then routes without a host;
 * 2. path: exact, then patterns (more static segments first, then more segments), then prefixes (longest first);
 * 3. more header and query predicates first;
 * 4. the order of the config.
 */

/** The parts of a route that matching reads (structural: a `RestRouteConfig` is one). */
export interface MatchSpec {
  prefix?: string | undefined;
  exact?: string | undefined;
  pattern?: string | undefined;
  host?: string | undefined;
  methods: readonly string[];
  headers?: readonly RoutePredicate[] | undefined;
  query?: readonly RoutePredicate[] | undefined;
}

/** One request as matching sees it: the raw path (never decoded), the raw query (without `?`). */
export interface MatchInput {
  host: string;
  rawPath: string;
  rawQuery: string;
  headers: IncomingHttpHeaders;
}

/** What a matched route learned: its path parameters (still percent-encoded, as sent). */
export type PathParams = Record<string, string>;

export interface CompiledRoute<T> {
  route: T;
  /** Where Fastify must send requests for this route (its path up to the first parameter). */
  mount: string;
  /** The path parameters when host, path and predicates match (methods are not checked here). */
  match(input: MatchInput, query: () => URLSearchParams): PathParams | undefined;
}

export type Selection<T> = { route: T; params: PathParams } | { allow: string[] } | undefined;

/** Compiles and orders routes; `select` returns the first that matches, or the methods of those that match all but the method. */
export function compileRoutes<T>(
  routes: readonly T[],
  specOf: (route: T) => MatchSpec,
): {
  compiled: CompiledRoute<T>[];
  select(method: string, input: MatchInput): Selection<T>;
} {
  const compiled = orderRoutes(routes, specOf).map((route) => compileRoute(route, specOf(route)));
  return {
    compiled,
    select(method, input) {
      let parsed: URLSearchParams | undefined;
      const query = () => (parsed ??= new URLSearchParams(input.rawQuery));
      let allow: string[] | undefined;
      for (const candidate of compiled) {
        const params = candidate.match(input, query);
        if (!params) continue;
        const methods = specOf(candidate.route).methods;
        if (methods.includes(method)) return { route: candidate.route, params };
        allow ??= [];
        for (const name of methods) if (!allow.includes(name)) allow.push(name);
      }
      return allow && { allow };
    },
  };
}

/** The routes, most specific first (see the module comment); equal ones keep their config order. */
export function orderRoutes<T>(routes: readonly T[], specOf: (route: T) => MatchSpec): T[] {
  const rank = (item: T): number[] => {
    const route = specOf(item);
    const host = route.host;
    const hostRank = host === undefined ? [0, 0] : host.startsWith('*.') ? [1, host.length] : [2, host.length];
    let pathRank: number[];
    if (route.exact !== undefined) pathRank = [3, 0, 0];
    else if (route.pattern !== undefined) {
      const segments = route.pattern.split('/').slice(1);
      pathRank = [2, segments.filter((segment) => !segment.startsWith(':')).length, segments.length];
    } else pathRank = [1, (route.prefix ?? '/').length, 0];
    return [...hostRank, ...pathRank, (route.headers?.length ?? 0) + (route.query?.length ?? 0)];
  };
  const ranked = routes.map((route, index) => ({ route, index, rank: rank(route) }));
  ranked.sort((a, b) => {
    for (let i = 0; i < a.rank.length; i++) {
      const diff = (b.rank[i] ?? 0) - (a.rank[i] ?? 0);
      if (diff !== 0) return diff;
    }
    return a.index - b.index;
  });
  return ranked.map(({ route }) => route);
}

/** The host without its port, lower-cased (`API.example.com:8080` → `api.example.com`, `[::1]:80` → `[::1]`). */
export function hostName(host: string | undefined): string {
  if (!host) return '';
  const end = host.startsWith('[') ? host.indexOf(']') + 1 : host.indexOf(':');
  return (end > 0 ? host.slice(0, end) : host).toLowerCase();
}

function compileRoute<T>(item: T, route: MatchSpec): CompiledRoute<T> {
  const host = compileHost(route.host);
  const path = compilePath(route);
  const headers = (route.headers ?? []).map((predicate) => {
    const test = compilePredicate(predicate);
    const name = predicate.name.toLowerCase();
    return (input: MatchInput) => {
      const value = input.headers[name];
      return test(Array.isArray(value) ? value[0] : value);
    };
  });
  const query = (route.query ?? []).map((predicate) => {
    const test = compilePredicate(predicate);
    return (params: URLSearchParams) => test(params.get(predicate.name) ?? undefined);
  });
  return {
    route: item,
    mount: path.mount,
    match(input, parsedQuery) {
      if (host && !host(input.host)) return undefined;
      const params = path.match(input.rawPath);
      if (!params) return undefined;
      for (const header of headers) if (!header(input)) return undefined;
      if (query.length > 0) {
        const parsed = parsedQuery();
        for (const test of query) if (!test(parsed)) return undefined;
      }
      return params;
    },
  };
}

function compileHost(host: string | undefined): ((name: string) => boolean) | undefined {
  if (host === undefined) return undefined;
  if (!host.startsWith('*.')) return (name) => name === host;
  const suffix = host.slice(1);
  return (name) => name.length > suffix.length && name.endsWith(suffix);
}

const NO_PARAMS: PathParams = Object.freeze({}) as PathParams;

function compilePath(route: MatchSpec): { mount: string; match(rawPath: string): PathParams | undefined } {
  if (route.exact !== undefined) {
    const exact = route.exact;
    return { mount: exact, match: (rawPath) => (rawPath === exact ? NO_PARAMS : undefined) };
  }
  if (route.pattern !== undefined) {
    const segments = route.pattern.split('/').slice(1);
    const firstParam = segments.findIndex((segment) => segment.startsWith(':'));
    const mount = '/' + (firstParam < 0 ? segments : segments.slice(0, firstParam)).join('/');
    return {
      mount,
      match(rawPath) {
        const parts = rawPath.split('/');
        if (parts.length !== segments.length + 1 || parts[0] !== '') return undefined;
        let params: PathParams | undefined;
        for (let i = 0; i < segments.length; i++) {
          const segment = segments[i] as string;
          const part = parts[i + 1] as string;
          if (segment.startsWith(':')) {
            if (part === '') return undefined;
            (params ??= {})[segment.slice(1)] = part;
          } else if (part !== segment) return undefined;
        }
        return params ?? NO_PARAMS;
      },
    };
  }
  const prefix = route.prefix ?? '/';
  const below = prefix === '/' ? '/' : `${prefix}/`;
  return { mount: prefix, match: (rawPath) => (rawPath === prefix || rawPath.startsWith(below) ? NO_PARAMS : undefined) };
}

export function compilePredicate(predicate: RoutePredicate): (value: string | undefined) => boolean {
  if (predicate.present !== undefined) {
    const present = predicate.present;
    return (value) => (value !== undefined) === present;
  }
  if (predicate.equals !== undefined) {
    const expected = predicate.equals;
    return (value) => value === expected;
  }
  const regex = new RegExp(predicate.regex ?? '');
  return (value) => value !== undefined && regex.test(value);
}

/**
 * What makes two routes match exactly the same requests: the same host, path (parameter names
 * aside), methods and predicates. Config validation refuses two routes with the same key.
 */
export function matchKey(route: MatchSpec): string {
  const path =
    route.exact !== undefined
      ? `exact ${route.exact}`
      : route.pattern !== undefined
        ? `pattern ${route.pattern.replace(/:[A-Za-z0-9_]+/g, ':')}`
        : `prefix ${route.prefix ?? '/'}`;
  const predicates = (kind: string, list: readonly RoutePredicate[] | undefined, fold: boolean) =>
    (list ?? []).map((p) => `${kind} ${fold ? p.name.toLowerCase() : p.name} ${JSON.stringify([p.present, p.equals, p.regex])}`).sort();
  return JSON.stringify([
    route.host ?? '',
    path,
    [...new Set(route.methods)].sort(),
    predicates('header', route.headers, true),
    predicates('query', route.query, false),
  ]);
}
