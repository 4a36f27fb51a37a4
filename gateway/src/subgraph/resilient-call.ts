import { hash } from 'node:crypto';
import type { Logger } from 'pino';
import type { BatchedWrites } from '../cache/batched-writes.js';
import { KeptCopies } from '../cache/kept-copies.js';
import type { CacheStore } from '../cache/store.js';
import { withTimeout } from '../cache/timeout.js';
import type { SubgraphSettings } from './config.js';
import type { FallbackReason, FallbackUse } from './state.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import { fetchOnce, type UpstreamResponse } from '../upstream/attempt.js';
import type { CallAudience } from '../upstream/breaker.js';
import type { Bulkhead } from '../upstream/bulkhead.js';
import { callFailureOf, describeError, nothingSent, UpstreamCallError, type CallFailure } from '../upstream/call-error.js';
import type { RequestInitLike, UpstreamFetch } from '../upstream/pool.js';
import { withRetries } from '../upstream/retry.js';
import { routeCall, type UpstreamRoute } from '../upstream/route.js';
import type { AttemptTracer } from './call-trace.js';
import type { InFlight } from './dedupe.js';
import { SubgraphHedging } from './hedging.js';
import type { HeldAnswers } from './held-answers.js';
import { analyseOperation } from './operation.js';
import type { ResponseCache } from './response-cache.js';
import { raceSoftDeadline, SoftDeadline } from './stale-if-slow.js';
import { staticResponse, type StaticFallbacks } from './static-fallbacks.js';

/** What one call needs to know about the request it serves. */
export interface CallInfo {
  query: string;
  operationName?: string | undefined;
  variables?: Record<string, unknown> | undefined;
  /**
   * The incoming operation is a mutation: none of its calls is deduplicated, cached or served from a
   * fallback, nor retried once it may have reached the subgraph.
   */
  incomingMutation: boolean;
  /** Epoch ms: no attempt starts after it, and attempts are cut at it. */
  deadline: number;
  requestId?: string | undefined;
  /** A header of the client's request (for `consistent_hash` on a header the subgraph request does not carry). */
  incomingHeader?: ((name: string) => string | undefined) | undefined;
  /** Called when the answer is a fallback, with the failure it stands in for (none: stale-if-slow, the call went on). */
  onFallback(use: FallbackUse, failure: CallFailure | undefined): void;
  /** Spans of the attempts, with their `traceparent` sent along; absent when tracing is off. */
  trace?: AttemptTracer | undefined;
  /** The headers the header rules forward (names and values): part of the dedupe and cache keys, public calls too. */
  forwardedHeaders?: string | undefined;
  /** Called when this call joined another caller's identical call in flight (its answer is that call's). */
  onJoined?: (() => void) | undefined;
}

/** The subgraph's route: its breaker, or its replica pool (a subgraph with several `upstreams`). */
export type ResilientCallerOptions = UpstreamRoute & ResilientCallerSettings;

export interface ResilientCallerSettings {
  /** Subgraph name: metrics label, breaker name, cache key namespace. */
  name: string;
  settings: SubgraphSettings;
  /** The subgraph's own pooled fetch. */
  fetch: UpstreamFetch;
  bulkhead: Bulkhead;
  inFlight: InFlight<UpstreamResponse>;
  /** Where successful query responses are kept for stale-if-error; none: no cached fallback. */
  cache?: CacheStore | undefined;
  /** Holds the copies' writes to send them in batches (a remote store); none: each is sent at once. */
  copyWrites?: BatchedWrites | undefined;
  /** Where calls' first answers are held instead of written (a remote store); none: every answer kept is written. */
  heldAnswers?: HeldAnswers | undefined;
  statics?: StaticFallbacks | undefined;
  /** How long a fallback lookup waits for the cache before it counts as a miss. */
  cacheReadTimeoutMs: number;
  /** Fresh hits in front of the live call; none: every query is live (`responseCache.enabled: false`). */
  responseCache?: ResponseCache | undefined;
  /** Lower-case header names whose values on the outgoing request identify the caller. */
  identityHeaders: readonly string[];
  metrics: GatewayMetrics;
  logger: Logger;
}

/**
 * Calls one subgraph through the resilience layer, in this order:
 *
 * dedupe (queries) → retries (queries: connection errors, 502/503/504) → bulkhead → breaker →
 * one attempt with its timeout (queries: an open breaker is asked first, and refuses before any
 * of that is built); past the soft deadline (queries): the cached copy, while the call
 * goes on; on failure: cached copy → static copy → the error.
 */
export class ResilientCaller {
  /** The copies this instance wrote: which answers are written again (see KeptCopies). */
  private readonly keptCopies = new KeptCopies();
  /** Stale-if-slow's soft deadline; undefined when it is off or there is no fallback cache. */
  private readonly softDeadline: SoftDeadline | undefined;
  /** Hedging of query attempts across replicas; undefined when it is off or the subgraph has one URL. */
  private readonly hedging: SubgraphHedging | undefined;

  constructor(private options: ResilientCallerOptions) {
    const { fallback, staleIfSlow, hedging } = options.settings;
    this.hedging = hedging.enabled && options.replicas ? new SubgraphHedging(options.name, hedging, options.metrics) : undefined;
    this.softDeadline = staleIfSlow.enabled && fallback.cache && options.cache ? new SoftDeadline(options.name, staleIfSlow) : undefined;
  }

  /**
   * The settings for calls from now on (a config reload: timeout, retries, fallback TTL); a call
   * under way keeps those it started with. Its breaker is reconfigured by its owner.
   */
  reconfigure(settings: SubgraphSettings): void {
    this.options = { ...this.options, settings };
  }

  async call(url: string, init: RequestInitLike, info: CallInfo): Promise<UpstreamResponse> {
    const responseCache = this.options.responseCache;
    if (!responseCache) return this.live(url, init, info);
    const operation = analyseOperation(info.query, info.operationName);
    const context = {
      subgraph: this.options.name,
      operation,
      incomingMutation: info.incomingMutation,
      forwardedHeaders: info.forwardedHeaders,
    };
    return responseCache.call(context, init, async (sent) => {
      let fellBack = false;
      const onFallback: CallInfo['onFallback'] = (use, failure) => {
        fellBack = true;
        info.onFallback(use, failure);
      };
      const response = await this.live(url, sent, { ...info, onFallback });
      return { response, fellBack };
    });
  }

  /** The call without the response cache: dedupe, retries, bulkhead, route; on failure the fallbacks. */
  private async live(url: string, init: RequestInitLike, info: CallInfo): Promise<UpstreamResponse> {
    const { name, settings, inFlight, metrics } = this.options;
    const operation = analyseOperation(info.query, info.operationName);
    const isQuery = operation.type === 'query' && !info.incomingMutation;
    // Sent at most once: retried only when it cannot have reached the subgraph (no connection was made).
    if (!isQuery) return this.network(url, init, info, settings.retry.maxRetries);

    const isPublic =
      settings.public || (operation.rootFields.length > 0 && operation.rootFields.every((f) => settings.publicRootFields.includes(f.name)));
    const forwarded = info.forwardedHeaders ? `\0${info.forwardedHeaders}` : '';
    const key = this.cacheKey((isPublic ? '' : this.identity(init.headers)) + forwarded, init.body ?? '');
    try {
      // An open breaker refuses at once: straight to the fallbacks, without building the call.
      const refused = this.options.breaker?.refusal();
      if (refused) {
        // Traced, the refusal is still an attempt span (`gateway.breaker.state: open`, `error.type: breaker_open`).
        if (info.trace) await info.trace.attempt(1, 'open', () => Promise.reject(refused));
        throw refused;
      }
      const live = (audience: CallAudience) => this.fetchAndKeep(url, init, info, key, audience);
      // With the breaker open, a call in flight is one from before it opened, likely hung: joining it
      // would wait for its timeout (or the soft deadline) where the open breaker answers at once.
      const join = settings.dedupe && this.takesCalls();
      const { promise, shared } = join ? inFlight.run(key, live) : { promise: live({ callers: 1 }), shared: false };
      if (shared) {
        metrics.subgraphDeduplicated.inc({ subgraph: name });
        info.trace?.joined();
        info.onJoined?.();
      }
      if (!this.softDeadline) return await promise;
      return await this.staleIfSlow(promise, key, info);
    } catch (error) {
      const fallback = await this.fallback(key, operation, info);
      if (!fallback) throw error;
      const failure = callFailureOf(error);
      metrics.fallbackRequests.inc({ subgraph: name, source: fallback.use.source, reason: 'error' });
      // While the breaker is open every request would log this: its opening was logged at warn, and
      // the metrics count each call it refuses.
      const level = failure === 'breaker_open' ? 'debug' : 'warn';
      if (this.options.logger.isLevelEnabled(level)) {
        this.options.logger[level](
          { subgraph: name, reqId: info.requestId, result: failure, reason: describeError(error), fallback: fallback.use.source },
          'subgraph call failed; serving a fallback',
        );
      }
      info.onFallback(fallback.use, failure);
      return fallback.response;
    }
  }

  /**
   * The live call, answered by the cached copy if it has not answered by its soft deadline and a
   * copy exists; the call goes on (within its timeout and the bulkhead) and refreshes the copy.
   */
  private async staleIfSlow(live: Promise<UpstreamResponse>, key: string, info: CallInfo): Promise<UpstreamResponse> {
    const { name, metrics, logger } = this.options;
    const softMs = (this.softDeadline as SoftDeadline).ms();
    const first = await raceSoftDeadline(live, softMs, () => this.cachedCopy(key, 'slow'));
    if (!first.copy) return first.live;
    metrics.fallbackRequests.inc({ subgraph: name, source: 'cache', reason: 'slow' });
    logger.debug(
      { subgraph: name, reqId: info.requestId, softDeadlineMs: softMs, age: first.copy.use.age },
      'subgraph call slow; serving the cached copy',
    );
    info.onFallback(first.copy.use, undefined);
    return first.copy.response;
  }

  private async fetchAndKeep(
    url: string,
    init: RequestInitLike,
    info: CallInfo,
    key: string,
    audience: CallAudience,
  ): Promise<UpstreamResponse> {
    const started = Date.now();
    let response: UpstreamResponse;
    try {
      response = await this.network(url, init, info, this.options.settings.retry.maxRetries, audience, true);
    } catch (error) {
      // A timeout is latency the subgraph showed; a refusal (breaker, bulkhead) or a reset is not.
      if (callFailureOf(error) === 'timeout') this.softDeadline?.record(Date.now() - started, audience.callers);
      throw error;
    }
    this.softDeadline?.record(Date.now() - started, audience.callers);
    const { cache, settings } = this.options;
    // Only complete answers are kept: a 200 without errors (`"errors":` can only appear as a key).
    // The body is scanned last: most answers of a hot call come moments after the last one looked at.
    if (
      cache &&
      settings.fallback.cache &&
      response.status === 200 &&
      !this.keptCopies.lookedAtLately(key, settings.fallback) &&
      !response.body.includes('"errors":')
    ) {
      this.keep(cache, key, response.body, settings.fallback);
    }
    return response;
  }

  /**
   * Writes the answer to the fallback cache if its copy there is missing, old or different (never
   * awaited), or holds it in memory if it is the call's first (see HeldAnswers).
   */
  private keep(cache: CacheStore, key: string, body: string, settings: SubgraphSettings['fallback']): void {
    const { heldAnswers } = this.options;
    // A call the record forgot (its last 10,000 per subgraph) whose answer is still held was answered before: not held again.
    const holdFirst = heldAnswers !== undefined && !heldAnswers.holds(key);
    const decision = this.keptCopies.decide(key, body, settings, Date.now(), holdFirst);
    if (decision === 'skip') return;
    if (decision === 'hold') {
      heldAnswers?.hold(key, body);
      return;
    }
    const batched = <T>(write: () => Promise<T>) => this.options.copyWrites?.run(write) ?? write();
    this.keptCopies.keep(
      decision,
      key,
      settings,
      {
        write: () =>
          batched(() => cache.set(key, body, settings.cacheTtlMs))
            // The copy is in the store now: a held first answer is no longer needed (kept if the write failed).
            .then(() => heldAnswers?.drop(key)),
        present: () => batched(() => cache.has(key)),
        rewrite: () => cache.set(key, body, settings.cacheTtlMs),
      },
      (error) => this.options.logger.debug({ subgraph: this.options.name, err: describeError(error) }, 'fallback cache write failed'),
    );
  }

  private network(
    url: string,
    init: RequestInitLike,
    info: CallInfo,
    maxRetries: number,
    audience?: CallAudience,
    query = false,
  ): Promise<UpstreamResponse> {
    const { name, settings, breaker, bulkhead, fetch, metrics, replicas } = this.options;
    // Only queries are hedged: a mutation (or a call made for one) is sent once.
    const hedging = query ? this.hedging : undefined;
    const key = replicas?.hashHeader ? balanceKey(replicas.hashHeader, init, info) : undefined;
    const routed = routeCall(this.options, url, key, audience);
    return withRetries(
      (n) => {
        const remaining = info.deadline - Date.now();
        if (remaining <= 0) return Promise.reject(new UpstreamCallError('timeout', 'request deadline passed before the call'));
        const timeoutMs = Math.min(settings.timeoutMs, remaining);
        const send = (extraHeaders?: Record<string, string>) => {
          const sent = extraHeaders ? { ...init, headers: { ...init.headers, ...extraHeaders } } : init;
          if (hedging) {
            // The hedge starts later: its own timeout still ends at the request deadline.
            const hedgeTimeout = () => Math.min(timeoutMs, info.deadline - Date.now());
            return hedging.run(routed, bulkhead, (target, cancel) => fetchOnce(fetch, target, sent, hedgeTimeout(), cancel));
          }
          return bulkhead.run(() => routed.attempt((target) => fetchOnce(fetch, target, sent, timeoutMs)));
        };
        if (!info.trace) return send();
        // Traced: each attempt is a span, and the subgraph gets that attempt's traceparent. With
        // replicas, the breaker is the chosen replica's, known only inside the pool: not recorded.
        return info.trace.attempt(n + 1, breaker?.state, (traceHeaders) => send(traceHeaders));
      },
      {
        maxRetries,
        baseDelayMs: settings.retry.baseDelayMs,
        maxDelayMs: settings.retry.maxDelayMs,
        deadline: info.deadline,
        isRetryable: query ? routed.isRetryable : (error) => routed.isRetryable(error) && nothingSent(error),
        onRetry: (retry, error, delayMs) => {
          metrics.subgraphRetries.inc({ subgraph: name });
          this.options.logger.debug(
            { subgraph: name, reqId: info.requestId, retry, delayMs, reason: describeError(error) },
            'retrying subgraph call',
          );
        },
      },
    );
  }

  private async fallback(key: string, operation: ReturnType<typeof analyseOperation>, info: CallInfo): Promise<Fallback | undefined> {
    const { statics, name } = this.options;
    const copy = await this.cachedCopy(key, 'error');
    if (copy) return copy;
    const answer = statics ? staticResponse(statics, operation, info.variables) : undefined;
    if (answer) return { use: { subgraph: name, source: 'static', age: null, reason: 'error' }, response: json(JSON.stringify(answer)) };
    return undefined;
  }

  /**
   * The fallback cache's copy of this call, if there is one (a read slower than `cacheReadTimeoutMs`
   * is a miss), or this instance's held first answer when it is newer and no purge came after it.
   */
  private async cachedCopy(key: string, reason: FallbackReason): Promise<Fallback | undefined> {
    const { cache, settings, name, heldAnswers, cacheReadTimeoutMs } = this.options;
    if (!cache || !settings.fallback.cache) return undefined;
    const held = heldAnswers?.find(key, settings.fallback.cacheTtlMs);
    // Read beside the copy, under the same deadline: a held answer is served only if no purge came after it.
    const purgedAt = held ? heldAnswers?.purgedAt(name, cacheReadTimeoutMs) : undefined;
    // The in-process store answers at once: no timer to race it against.
    const read = cache.kind === 'memory' ? cache.get(key) : withTimeout(cache.get(key), cacheReadTimeoutMs);
    const entry = await read.catch((error: unknown) => {
      this.options.logger.warn(
        { subgraph: name, err: describeError(error) },
        'fallback cache read failed; trying a held answer, then the static fallback',
      );
      return undefined;
    });
    if (held && (!entry || entry.storedAt < held.at)) {
      const purged = await purgedAt;
      if (purged === undefined || purged < held.at) return this.copyAnswer(held.body, held.at, reason);
      heldAnswers?.drop(key);
    }
    if (!entry) return undefined;
    return this.copyAnswer(entry.value, this.keptCopies.confirmedAt(key, entry.storedAt, entry.value), reason);
  }

  private copyAnswer(body: string, confirmedAt: number, reason: FallbackReason): Fallback {
    const age = Math.max(0, Math.floor((Date.now() - confirmedAt) / 1000));
    return { use: { subgraph: this.options.name, source: 'cache', age, reason }, response: json(body) };
  }

  /** Whether the route may take a call now: its breaker not open, or (replicas) one replica available. */
  private takesCalls(): boolean {
    const { breaker, replicas } = this.options;
    if (breaker) return breaker.state !== 'open';
    return replicas ? replicas.pool.availableCount() > 0 : true;
  }

  private identity(headers: Record<string, string> | undefined): string {
    return this.options.identityHeaders.map((header) => headers?.[header] ?? '').join('\n');
  }

  /** subgraph + identity + request body (document, variables, operation name); hashed, so no header value is ever stored as a key. */
  private cacheKey(identity: string, body: string): string {
    return `${this.options.name}:${hash('sha256', `${identity}\0${body}`, 'base64url')}`;
  }
}

/** The value of the hash header: on the subgraph request (e.g. a principal header), else on the client's request. */
function balanceKey(header: string, init: RequestInitLike, info: CallInfo): string | undefined {
  const outgoing = init.headers?.[header];
  if (outgoing !== undefined && outgoing !== '') return outgoing;
  const incoming = info.incomingHeader?.(header);
  return incoming === undefined || incoming === '' ? undefined : incoming;
}

interface Fallback {
  use: FallbackUse;
  response: UpstreamResponse;
}

/** A copy as an answer, in the same shape (the same properties, in the same order) as a live one from `fetchOnce`. */
function json(body: string): UpstreamResponse {
  return { status: 200, contentType: 'application/json', body, cacheControl: undefined, headers: undefined };
}
