import type { GatewayMetrics } from '../observability/metrics.js';
import type { UpstreamResponse } from '../upstream/attempt.js';
import type { RequestInitLike } from '../upstream/pool.js';
import { entityId, entityKey, entityTag } from './cache-keys.js';
import { cacheControlHeader, type CachePolicy, type PolicySubject } from './cache-policy.js';
import { isRecord } from '../records.js';

/** The live call (dedupe, retries, breaker, fallbacks); `fellBack`: the answer is a fallback copy. */
export type LiveCall = (init: RequestInitLike) => Promise<{ response: UpstreamResponse; fellBack: boolean }>;

/** One cached copy: the answer (a whole body, or one entity as JSON), its policy, and its age in seconds. */
export interface Found {
  value: string;
  policy: CachePolicy;
  age: number;
  stale: boolean;
}

/** What the per-entity path uses of the response cache (response-cache.ts). */
export interface EntityCacheHost {
  readonly options: { metrics: GatewayMetrics };
  read(keys: readonly string[]): Promise<Found | undefined>;
  keep(key: string, value: string, policy: CachePolicy, tags: readonly string[]): void;
  policy(header: string | null | undefined, subjects: readonly PolicySubject[]): CachePolicy;
  keyFor(policy: CachePolicy, identity: string | undefined, key: (scope: string) => string): string | undefined;
  scopedKeys(identity: string | undefined, key: (scope: string) => string): string[];
  refresh(id: string, run: () => Promise<unknown>): void;
}

export interface EntitiesRequest {
  query?: string;
  operationName?: string;
  variables: Record<string, unknown>;
}

export interface EntitiesCall {
  subgraph: string;
  identity: string | undefined;
  /** The forwarded headers' key (see ResponseCache's CallContext): part of every entity's key. */
  forwardedHeaders?: string | undefined;
  init: RequestInitLike;
  request: EntitiesRequest;
  representations: readonly unknown[];
}

interface Slot {
  type: string;
  id: string;
  key: (scope: string) => string;
}

interface Fetched {
  response: UpstreamResponse;
  /** The subset's entities and errors, when the answer is usable (a 200 with one entity per representation sent). */
  entities?: unknown[] | undefined;
  errors?: { path?: unknown[] }[] | undefined;
  /** Most restrictive policy of the live entities (undefined: nothing cacheable). */
  policy?: CachePolicy | undefined;
}

/**
 * An `_entities` fetch, entity by entity: each representation's entity is looked up by type, key
 * (its representation) and the fetch's selection (document and other variables), publicly and
 * for the caller. When all are fresh, no call is made; otherwise the subgraph is called only for
 * the missing ones (the same body as the original when none was found, so dedupe and the
 * fallback copies see the same call), and the answer is put back together in the original order,
 * with error paths moved to their original index.
 */
export async function entitiesCall(host: EntityCacheHost, call: EntitiesCall, live: LiveCall): Promise<UpstreamResponse> {
  const { subgraph, identity, request, representations, forwardedHeaders } = call;
  const { representations: _sent, ...otherVariables } = request.variables;
  const selected = [request.query ?? '', request.operationName ?? null, otherVariables];
  const selection = JSON.stringify(forwardedHeaders ? [...selected, forwardedHeaders] : selected);
  const slots = representations.map((rep): Slot | undefined => {
    if (!isRecord(rep) || typeof rep['__typename'] !== 'string') return undefined;
    const type = rep['__typename'];
    const id = entityId(rep);
    return id === undefined ? undefined : { type, id, key: (scope) => entityKey(type, id, subgraph, scope, selection) };
  });
  const found = await Promise.all(slots.map((slot) => (slot ? host.read(host.scopedKeys(identity, slot.key)) : undefined)));
  const missing = found.flatMap((copy, index) => (copy ? [] : [index]));
  const stale = found.flatMap((copy, index) => (copy?.stale ? [index] : []));
  const { metrics } = host.options;
  const labels = { subgraph, kind: 'entity' };
  metrics.responseCacheHits.inc(labels, found.length - missing.length - stale.length);
  metrics.responseCacheStale.inc(labels, stale.length);
  metrics.responseCacheMisses.inc(labels, missing.length);
  const fetch = (indexes: readonly number[]) => fetchAndKeep(host, call, slots, indexes, live);
  if (stale.length) host.refresh(`e\n${subgraph}\n${selection}\n${identity ?? ''}\n${stale.join(',')}`, () => fetch(stale));
  if (missing.length === representations.length) {
    const fetched = await fetch(missing);
    return {
      ...fetched.response,
      cacheControl: fetched.policy ? cacheControlHeader(fetched.policy.maxAge, fetched.policy.scope) : 'no-store',
    };
  }
  const fetched = missing.length ? await fetch(missing) : undefined;
  if (fetched && !fetched.entities) return (await live(call.init)).response;
  const entities = found.map((copy) => (copy ? (JSON.parse(copy.value) as unknown) : null));
  missing.forEach((index, j) => (entities[index] = fetched?.entities?.[j] ?? null));
  const errors = fetched?.errors?.map((error) => remapPath(error, missing));
  return {
    status: 200,
    contentType: 'application/json',
    body: JSON.stringify(errors?.length ? { data: { _entities: entities }, errors } : { data: { _entities: entities } }),
    cacheControl: combinedHeader(found, fetched, stale.length > 0),
    fromCache: missing.length === 0,
  };
}

async function fetchAndKeep(
  host: EntityCacheHost,
  call: EntitiesCall,
  slots: readonly (Slot | undefined)[],
  indexes: readonly number[],
  live: LiveCall,
): Promise<Fetched> {
  const { init, request, representations, identity } = call;
  const whole = indexes.length === representations.length;
  const sent = whole
    ? init
    : {
        ...init,
        body: JSON.stringify({ ...request, variables: { ...request.variables, representations: indexes.map((i) => representations[i]) } }),
      };
  const { response, fellBack } = await live(sent);
  const parsed = parseAnswer(response.body);
  const entities = parsed?.data?._entities;
  if (response.status !== 200 || !Array.isArray(entities) || entities.length !== indexes.length) return { response };
  if (fellBack) return { response, entities, errors: parsed?.errors };
  // Entities with an error (or all, for an error without an `_entities` path) are not kept.
  const failed = new Set<number>();
  let failedAll = false;
  for (const error of parsed?.errors ?? []) {
    if (error.path?.[0] === '_entities' && typeof error.path[1] === 'number') failed.add(error.path[1]);
    else failedAll = true;
  }
  const policies = new Map<string, CachePolicy>();
  let combined: CachePolicy | undefined;
  indexes.forEach((index, j) => {
    const slot = slots[index];
    if (!slot) return;
    let policy = policies.get(slot.type);
    if (!policy) policies.set(slot.type, (policy = host.policy(response.cacheControl, [{ type: slot.type }])));
    combined = combined ? mostRestrictive(combined, policy) : policy;
    const entity = entities[j];
    if (failedAll || failed.has(j) || entity === null || entity === undefined) return;
    const key = host.keyFor(policy, identity, slot.key);
    if (key) host.keep(key, JSON.stringify(entity), policy, [entityTag(slot.type, slot.id)]);
  });
  return { response, entities, errors: parsed?.errors, policy: failedAll || failed.size ? undefined : combined };
}

function combinedHeader(found: readonly (Found | undefined)[], fetched: Fetched | undefined, stale: boolean): string {
  if (stale || (fetched && !fetched.policy)) return 'no-store';
  let remaining = fetched?.policy ? fetched.policy.maxAge : Number.POSITIVE_INFINITY;
  let scope: CachePolicy['scope'] = fetched?.policy?.scope ?? 'PUBLIC';
  for (const copy of found) {
    if (!copy) continue;
    remaining = Math.min(remaining, copy.policy.maxAge - copy.age);
    if (copy.policy.scope === 'PRIVATE') scope = 'PRIVATE';
  }
  return Number.isFinite(remaining) ? cacheControlHeader(remaining, scope) : 'no-store';
}

function mostRestrictive(a: CachePolicy, b: CachePolicy): CachePolicy {
  return {
    maxAge: Math.min(a.maxAge, b.maxAge),
    scope: a.scope === 'PRIVATE' || b.scope === 'PRIVATE' ? 'PRIVATE' : 'PUBLIC',
    staleWhileRevalidate: Math.min(a.staleWhileRevalidate, b.staleWhileRevalidate),
  };
}

function remapPath(error: { path?: unknown[] }, indexes: readonly number[]): { path?: unknown[] } {
  const path = error.path;
  if (path?.[0] !== '_entities' || typeof path[1] !== 'number') return error;
  return { ...error, path: ['_entities', indexes[path[1]] ?? path[1], ...path.slice(2)] };
}

function parseAnswer(body: string): { data?: { _entities?: unknown }; errors?: { path?: unknown[] }[] } | undefined {
  try {
    const parsed = JSON.parse(body) as unknown;
    return isRecord(parsed) ? (parsed as { data?: { _entities?: unknown }; errors?: { path?: unknown[] }[] }) : undefined;
  } catch {
    return undefined;
  }
}

/** A cached answer, in the live call's shape. */
export function cached(body: string, cacheControl: string): UpstreamResponse {
  return { status: 200, contentType: 'application/json', body, cacheControl, fromCache: true };
}
