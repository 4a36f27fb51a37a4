import type { CacheSchema } from './cache-schema.js';
import type { CacheHint } from './response-cache-config.js';

/** How long an answer may be served from the cache, and to whom. `maxAge` 0: not cached. */
export interface CachePolicy {
  maxAge: number;
  scope: 'PUBLIC' | 'PRIVATE';
  /** Seconds after `maxAge` during which a stale copy answers while a refresh runs. */
  staleWhileRevalidate: number;
}

export const UNCACHEABLE: CachePolicy = { maxAge: 0, scope: 'PUBLIC', staleWhileRevalidate: 0 };

/**
 * A subgraph's `Cache-Control` answer header as a policy: `s-maxage` (the gateway is a shared
 * cache) else `max-age`, `private`, `stale-while-revalidate`; `no-store` and `no-cache` are
 * uncacheable. Undefined when there is no header.
 */
export function policyFromHeader(header: string | null | undefined): (CachePolicy & { ownSwr: boolean }) | undefined {
  if (!header) return undefined;
  const directives = cacheControlDirectives(header);
  if (directives.has('no-store') || directives.has('no-cache')) return { ...UNCACHEABLE, ownSwr: false };
  const seconds = (name: string) => {
    const value = directives.get(name);
    return typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : undefined;
  };
  const swr = seconds('stale-while-revalidate');
  return {
    maxAge: seconds('s-maxage') ?? seconds('max-age') ?? 0,
    scope: directives.has('private') ? 'PRIVATE' : 'PUBLIC',
    staleWhileRevalidate: swr ?? 0,
    ownSwr: swr !== undefined,
  };
}

/** A `Cache-Control` header's directives by lower-cased name: a value without its quotes, or `true`. */
export function cacheControlDirectives(header: string): Map<string, string | true> {
  const directives = new Map<string, string | true>();
  for (const part of header.toLowerCase().split(',')) {
    const [name, value] = part.trim().split('=', 2);
    if (name) directives.set(name, value === undefined ? true : value.replace(/^"|"$/g, ''));
  }
  return directives;
}

/** What a fetch returns, for the hints: `Query.topProducts` with type `Product`, or an entity type alone. */
export interface PolicySubject {
  field?: string | undefined;
  type?: string | undefined;
}

export interface PolicyInputs {
  header: string | null | undefined;
  subjects: readonly PolicySubject[];
  overrides: Readonly<Record<string, CacheHint>>;
  schema: CacheSchema;
  defaultStaleWhileRevalidate: number;
}

/**
 * The policy of one fetch. When config overrides cover every subject, they decide alone (they may
 * lengthen what the subgraph says). Otherwise the subgraph's header, restricted by the
 * supergraph's `@cacheControl` hints of the subjects (used alone when the subgraph sent no
 * header), then by the overrides that apply. Most restrictive wins: the smallest maxAge, PRIVATE
 * if anything is.
 */
export function fetchPolicy(inputs: PolicyInputs): CachePolicy {
  const { subjects, overrides, schema } = inputs;
  if (subjects.length === 0) return UNCACHEABLE;
  const lookup = (hints: (key: string) => CacheHint | undefined, subject: PolicySubject) =>
    (subject.field && hints(subject.field)) || (subject.type && hints(subject.type)) || undefined;
  const configured = subjects.map((s) => lookup((k) => overrides[k], s));
  const header = policyFromHeader(inputs.header);
  const swr = header?.ownSwr ? header.staleWhileRevalidate : inputs.defaultStaleWhileRevalidate;
  let policy: CachePolicy;
  if (configured.every((hint) => hint?.maxAge !== undefined)) {
    policy = { maxAge: Number.POSITIVE_INFINITY, scope: 'PUBLIC', staleWhileRevalidate: swr };
  } else {
    const schemaHints = subjects.map((s) => lookup((k) => schema.hints.get(k), s));
    const fromSchema = schemaHints.every((hint) => hint?.maxAge !== undefined)
      ? schemaHints.reduce<CachePolicy>((p, hint) => restrict(p, hint ?? {}), { ...UNCACHEABLE, maxAge: Number.POSITIVE_INFINITY })
      : undefined;
    const base = header ?? fromSchema ?? UNCACHEABLE;
    policy = { ...(fromSchema ? restrict(base, fromSchema) : base), staleWhileRevalidate: swr };
  }
  for (const hint of configured) if (hint) policy = restrict(policy, hint);
  return Number.isFinite(policy.maxAge) ? policy : UNCACHEABLE;
}

function restrict(policy: CachePolicy, hint: Partial<CachePolicy> | CacheHint): CachePolicy {
  const ownSwr = 'staleWhileRevalidate' in hint ? hint.staleWhileRevalidate : undefined;
  return {
    maxAge: hint.maxAge === undefined ? policy.maxAge : Math.min(policy.maxAge, hint.maxAge),
    scope: policy.scope === 'PRIVATE' || hint.scope === 'PRIVATE' ? 'PRIVATE' : 'PUBLIC',
    staleWhileRevalidate: ownSwr === undefined ? policy.staleWhileRevalidate : ownSwr,
  };
}

/** The header handed to Apollo for an answer served with `remaining` seconds of freshness. */
export function cacheControlHeader(remaining: number, scope: CachePolicy['scope']): string {
  return remaining > 0 ? `max-age=${Math.floor(remaining)}, ${scope.toLowerCase()}` : 'no-store';
}
