import type { Logger } from 'pino';
import type { CacheStore } from '../cache/store.js';
import { withTimeout } from '../cache/timeout.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import type { UpstreamResponse } from '../upstream/attempt.js';
import { describeError } from '../upstream/call-error.js';
import type { RequestInitLike } from '../upstream/pool.js';
import { entityId, entityTag, queryKey, typeTag } from './cache-keys.js';
import { cacheControlHeader, fetchPolicy, type CachePolicy, type PolicySubject } from './cache-policy.js';
import type { CacheSchema } from './cache-schema.js';
import type { SubgraphOperation } from './operation.js';
import type { ResponseCacheConfig } from './response-cache-config.js';
import { cached, entitiesCall, type EntitiesRequest, type Found, type LiveCall } from './entity-cache.js';
import { isRecord } from '../records.js';

export interface ResponseCacheOptions {
  /** The gateway's one cache store (the fallback copies live there too). */
  store: CacheStore;
  config: ResponseCacheConfig;
  /** The current supergraph's keys, root field types and `@cacheControl` hints. */
  schema: () => CacheSchema;
  /** Lower-case header names whose values identify the caller (the fallback cache's identity rule). */
  identityHeaders: readonly string[];
  /** How long a lookup waits for the store before it counts as a miss. */
  readTimeoutMs: number;
  metrics: GatewayMetrics;
  logger: Logger;
}

interface StoredCopy {
  v: string;
  m: number;
  s: number;
  p: CachePolicy['scope'];
}

export interface CallContext {
  subgraph: string;
  operation: SubgraphOperation;
  /** The incoming operation is a mutation: its calls never read the cache. */
  incomingMutation: boolean;
  /**
   * The headers the header rules forwarded with the call (their own key), when any: the answer may
   * depend on them (`x-tenant`, `accept-language`), so copies are kept per value, public ones too.
   */
  forwardedHeaders?: string | undefined;
}

/**
 * Fresh hits for subgraph queries, in front of the live call. A query's answer is kept whole
 * (`kind=query`); an `_entities` fetch is kept per entity (`kind=entity`, see entity-cache.ts). TTL
 * and scope come from {@link fetchPolicy}; a PRIVATE copy is keyed by the caller's identity headers
 * and never read for another caller (nor kept for an anonymous one). A copy past its maxAge but
 * within stale-while-revalidate answers at once while one background refresh runs. A mutation's
 * answer purges the copies of every entity it returns. Answers carry a normalized `Cache-Control`
 * for Apollo, which makes the client's header the most restrictive of what was used.
 */
export class ResponseCache {
  private readonly refreshing = new Set<string>();

  constructor(readonly options: ResponseCacheOptions) {}

  async call(context: CallContext, init: RequestInitLike, live: LiveCall): Promise<UpstreamResponse> {
    const { operation, subgraph } = context;
    if (operation.type === 'mutation') {
      const { response } = await live(init);
      await this.purgeReturned(subgraph, operation, response);
      return { ...response, cacheControl: 'no-store' };
    }
    if (context.incomingMutation || operation.type !== 'query') return { ...(await live(init)).response, cacheControl: 'no-store' };
    const request = parseRequest(init.body);
    if (!request) return (await live(init)).response;
    const identity = this.identity(init.headers);
    const { forwardedHeaders } = context;
    const representations = request.variables?.['representations'];
    if (this.options.config.entities && Array.isArray(representations) && isEntitiesOnly(operation)) {
      const entities = { subgraph, identity, forwardedHeaders, init, request: request as EntitiesRequest, representations };
      return entitiesCall(this, entities, live);
    }
    return this.queryCall(subgraph, operation, identity, forwardedHeaders, init, live);
  }

  private async queryCall(
    subgraph: string,
    operation: SubgraphOperation,
    identity: string | undefined,
    forwardedHeaders: string | undefined,
    init: RequestInitLike,
    live: LiveCall,
  ): Promise<UpstreamResponse> {
    const { metrics } = this.options;
    // What the key is made of: the body, and the forwarded headers' values when there are any.
    const keyed = forwardedHeaders ? `${init.body ?? ''}\0${forwardedHeaders}` : (init.body ?? '');
    const found = await this.read(this.scopedKeys(identity, (scope) => queryKey(subgraph, scope, keyed)));
    const labels = { subgraph, kind: 'query' };
    if (found && !found.stale) {
      metrics.responseCacheHits.inc(labels);
      return cached(found.value, cacheControlHeader(found.policy.maxAge - found.age, found.policy.scope));
    }
    const fetchAndKeep = async () => {
      const { response, fellBack } = await live(init);
      if (fellBack || response.status !== 200 || response.body.includes('"errors":')) return { ...response, cacheControl: 'no-store' };
      const subjects: PolicySubject[] = operation.rootFields.map((field) => ({
        field: `Query.${field.name}`,
        type: this.options.schema().rootFieldTypes.get(`Query.${field.name}`),
      }));
      const policy = this.policy(response.cacheControl, subjects);
      const key = this.keyFor(policy, identity, (scope) => queryKey(subgraph, scope, keyed));
      if (key) this.keep(key, response.body, policy, this.queryTags(operation, response.body));
      return { ...response, cacheControl: cacheControlHeader(policy.maxAge, policy.scope) };
    };
    if (found) {
      metrics.responseCacheStale.inc(labels);
      this.refresh(`q\n${subgraph}\n${keyed}\n${identity ?? ''}`, fetchAndKeep);
      return cached(found.value, 'no-store');
    }
    metrics.responseCacheMisses.inc(labels);
    return fetchAndKeep();
  }

  /** The policy of a live answer ({@link fetchPolicy} with this cache's config and the supergraph). */
  policy(header: string | null | undefined, subjects: readonly PolicySubject[]): CachePolicy {
    const { config, schema } = this.options;
    return fetchPolicy({
      header,
      subjects,
      overrides: config.overrides,
      schema: schema(),
      defaultStaleWhileRevalidate: config.staleWhileRevalidateSeconds,
    });
  }

  /** Where a copy with this policy is kept: undefined when uncacheable, or private for an anonymous caller. */
  keyFor(policy: CachePolicy, identity: string | undefined, key: (scope: string) => string): string | undefined {
    if (policy.maxAge <= 0) return undefined;
    if (policy.scope === 'PUBLIC') return key('');
    return identity === undefined ? undefined : key(`private\n${identity}`);
  }

  /** The public key, and the caller's private key when the caller has an identity: a copy may be under either. */
  scopedKeys(identity: string | undefined, key: (scope: string) => string): string[] {
    return identity === undefined ? [key('')] : [key(''), key(`private\n${identity}`)];
  }

  /** The first copy found under `keys` that is still usable (fresh or within its SWR window); store failures are misses. */
  async read(keys: readonly string[]): Promise<Found | undefined> {
    const { store, readTimeoutMs, logger } = this.options;
    const entries = await withTimeout(Promise.all(keys.map((key) => store.get(key))), readTimeoutMs).catch((error: unknown) => {
      logger.debug({ err: describeError(error) }, 'response cache read failed; calling the subgraph');
      return [];
    });
    for (const entry of entries) {
      if (!entry) continue;
      const copy = parseCopy(entry.value);
      if (!copy) continue;
      const age = Math.max(0, (Date.now() - entry.storedAt) / 1000);
      if (age >= copy.m + copy.s) continue;
      return { value: copy.v, policy: { maxAge: copy.m, scope: copy.p, staleWhileRevalidate: copy.s }, age, stale: age >= copy.m };
    }
    return undefined;
  }

  /** Writes a copy (and lists it under its tags) in the background; a failed write is logged, never raised. */
  keep(key: string, value: string, policy: CachePolicy, tags: readonly string[]): void {
    const { store, logger } = this.options;
    const copy: StoredCopy = { v: value, m: policy.maxAge, s: policy.staleWhileRevalidate, p: policy.scope };
    const ttlMs = (policy.maxAge + policy.staleWhileRevalidate) * 1000;
    Promise.all([store.set(key, JSON.stringify(copy), ttlMs), tags.length ? store.tag(tags, key, ttlMs) : undefined]).catch(
      (error: unknown) => logger.debug({ err: describeError(error) }, 'response cache write failed'),
    );
  }

  /** Runs one background refresh per `id` at a time (stale-while-revalidate). */
  refresh(id: string, run: () => Promise<unknown>): void {
    if (this.refreshing.has(id)) return;
    this.refreshing.add(id);
    run()
      .catch((error: unknown) => this.options.logger.debug({ err: describeError(error) }, 'response cache refresh failed'))
      .finally(() => this.refreshing.delete(id));
  }

  /** The caller's identity (identity header values), or undefined for an anonymous caller. */
  private identity(headers: Record<string, string> | undefined): string | undefined {
    const values = this.options.identityHeaders.map((header) => headers?.[header] ?? '');
    return values.some((value) => value !== '') ? values.join('\n') : undefined;
  }

  /** Tags of a query answer: each entity it holds with its keys selected, else its type. */
  private queryTags(operation: SubgraphOperation, body: string): string[] {
    return [...this.entitiesIn('Query', operation, body)].map(([type, id]) => (id === undefined ? typeTag(type) : entityTag(type, id)));
  }

  /** [type, id] of the entities an answer's root fields return (id undefined when its key fields were not selected). */
  private *entitiesIn(root: 'Query' | 'Mutation', operation: SubgraphOperation, body: string): Generator<[string, string | undefined]> {
    const schema = this.options.schema();
    const data = parseData(body);
    if (!data) return;
    for (const field of operation.rootFields) {
      const type = schema.rootFieldTypes.get(`${root}.${field.name}`);
      const keySets = type ? schema.keys.get(type) : undefined;
      if (!type || !keySets) continue;
      const value = data[field.responseKey];
      for (const object of (Array.isArray(value) ? value : [value]).filter(isRecord)) {
        const ids = keySets.map((fields) => entityId(object, fields)).filter((id) => id !== undefined);
        if (ids.length === 0) yield [type, undefined];
        for (const id of ids) yield [type, id];
      }
    }
  }

  /** Deletes the copies of every entity a mutation returned (and the query answers of its type with unknown keys). */
  private async purgeReturned(subgraph: string, operation: SubgraphOperation, response: UpstreamResponse): Promise<void> {
    if (response.status !== 200) return;
    const tags = new Set<string>();
    for (const [type, id] of this.entitiesIn('Mutation', operation, response.body)) {
      tags.add(typeTag(type));
      if (id !== undefined) tags.add(entityTag(type, id));
    }
    if (tags.size === 0) return;
    const { store, metrics, logger, readTimeoutMs } = this.options;
    try {
      const deleted = await withTimeout(store.purgeTags([...tags]), readTimeoutMs * 5);
      metrics.responseCachePurges.inc({ subgraph, reason: 'mutation' }, deleted);
    } catch (error) {
      logger.warn({ subgraph, err: describeError(error) }, 'response cache purge after a mutation failed; copies expire by TTL');
    }
  }
}

function parseCopy(raw: string): StoredCopy | undefined {
  try {
    const copy = JSON.parse(raw) as StoredCopy;
    return typeof copy.v === 'string' && typeof copy.m === 'number' ? copy : undefined;
  } catch {
    return undefined;
  }
}

function parseRequest(body: string | undefined): { query?: string; variables?: Record<string, unknown> } | undefined {
  try {
    const parsed = JSON.parse(body ?? '') as unknown;
    return isRecord(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

function parseData(body: string): Record<string, unknown> | undefined {
  try {
    const parsed = JSON.parse(body) as { data?: unknown };
    return isRecord(parsed.data) ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

function isEntitiesOnly(operation: SubgraphOperation): boolean {
  return operation.rootFields.length === 1 && operation.rootFields[0]?.name === '_entities';
}
