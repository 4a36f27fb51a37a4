import { RemoteGraphQLDataSource, type GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import { context as otelContext, trace as otelTrace, type Span } from '@opentelemetry/api';
import type { Logger } from 'pino';
import { principalHeaderNames, principalHeaders, type PrincipalHeaderNames } from '../auth/principal.js';
import type { GatewayContext, RequestState } from '../context.js';
import type { FallbackUse } from './state.js';
import type { GatewayMetrics, SubgraphResult } from '../observability/metrics.js';
import { failSpan } from '../observability/request-trace.js';
import { callFailureOf, describeError, type CallFailure } from '../upstream/call-error.js';
import { bufferedResponse, type Fetcher } from './fetch.js';
import { processOperationCall } from './operation-call.js';
import type { SubgraphHealthBook } from './health.js';
import type { SubgraphLatencies } from './latency.js';
import { subgraphAttemptTracer, type AttemptTracer } from './call-trace.js';
import type { CallInfo, ResilientCaller } from './resilient-call.js';
import type { RequestInitLike } from '../upstream/pool.js';
import type { ResponseHeaderCollector } from '../headers/guards.js';
import { headerInputOf, type CompiledHeaderRules, type HeaderOutput } from '../headers/rules.js';

const NO_HEADERS = new Map<string, string>();

type GatewayGraphQLResponse = Awaited<ReturnType<RemoteGraphQLDataSource['process']>>;

export interface SubgraphDataSourceOptions {
  name: string;
  url: string;
  fetcher: Fetcher;
  requestIdHeader: string;
  /** Headers that carry the caller's identity; whatever else set them is replaced. */
  principalHeaders: PrincipalHeaderNames;
  metrics: GatewayMetrics;
  health: SubgraphHealthBook;
  /** Where the latency of each answered (or timed-out) call is recorded, for adaptive budgets. */
  latencies?: SubgraphLatencies | undefined;
  logger: Logger;
  /** This subgraph's header rules (`headers.all`, then its own), compiled, for the request's state (the set it arrived under); absent: none. */
  headerRules?: ((state: RequestState | undefined) => { request: CompiledHeaderRules; response: CompiledHeaderRules }) | undefined;
  /** The resilience layer for this subgraph; absent (`resilience.enabled: false`): plain calls through `fetcher`. */
  resilience?: { caller: ResilientCaller; requestDeadlineMs: number } | undefined;
}

/**
 * The one hook per subgraph (`buildService`): forwards the request id, runs each call through the
 * resilience layer, and times and classifies every call for metrics and readiness.
 *
 * A call builds the request, calls `willSendRequest`, then the fetcher, as Apollo's `process()` does
 * (operation-call.ts: the same steps without node-fetch). To hand the resilience layer the final
 * outgoing request together with this request's context, each call runs on a per-call object whose
 * prototype is this data source and whose `fetcher` is bound to the call.
 */
export class SubgraphDataSource extends RemoteGraphQLDataSource<GatewayContext> {
  private readonly subgraph: Omit<SubgraphDataSourceOptions, 'url' | 'fetcher'>;
  /** Set on the per-call object only: the headers the request rules produced for this call. */
  private readonly forwarded: HeaderOutput | undefined;

  constructor(options: SubgraphDataSourceOptions) {
    super({ url: options.url, fetcher: options.fetcher });
    const { url: _url, fetcher: _fetcher, ...rest } = options;
    this.subgraph = rest;
  }

  override willSendRequest(options: GraphQLDataSourceProcessOptions<GatewayContext>): void {
    const context = options.context as Partial<GatewayContext> | undefined;
    const headers = options.request.http?.headers;
    if (!headers) return;
    // The header rules' output first: what the gateway sets below cannot be overridden by it.
    for (const [name, values] of this.forwarded ?? []) headers.set(name, values.join(', '));
    if (context?.requestId) headers.set(this.subgraph.requestIdHeader, context.requestId);
    // Identity headers come from the principal only, never from anything a client could have set.
    for (const name of principalHeaderNames(this.subgraph.principalHeaders)) headers.delete(name);
    for (const [name, value] of Object.entries(principalHeaders(context?.state?.principal, this.subgraph.principalHeaders))) {
      headers.set(name, value);
    }
  }

  override async process(options: GraphQLDataSourceProcessOptions<GatewayContext>): Promise<GatewayGraphQLResponse> {
    const { name, metrics, health } = this.subgraph;
    const started = process.hrtime.bigint();
    const elapsed = () => Number(process.hrtime.bigint() - started) / 1e9;
    const context = options.context as Partial<GatewayContext> | undefined;
    const traced = this.traced(context);
    let servedBy: { failure: CallFailure | undefined; use: FallbackUse } | undefined;
    let fromCache = false;
    try {
      const response = await this.processCall(
        options,
        context,
        traced?.attempts,
        (failure, use) => (servedBy = { failure, use }),
        () => (fromCache = true),
      );
      if (servedBy && !servedBy.failure) {
        // Stale-if-slow: a cached copy answered at the soft deadline; the call went on (its outcome feeds the breaker).
        metrics.observeSubgraphCall(name, 'slow', elapsed());
        // The subgraph took at least this long: latency it showed.
        this.subgraph.latencies?.record(name, elapsed() * 1000);
        traced?.fetchSpan?.setAttributes({ 'gateway.subgraph.result': 'slow', 'gateway.fallback.source': servedBy.use.source });
        return response;
      }
      if (servedBy?.failure) {
        // A fallback answered: the call itself failed.
        metrics.observeSubgraphCall(name, servedBy.failure, elapsed());
        // A timeout is latency the subgraph showed; a refusal (breaker, bulkhead) or a reset is not.
        if (servedBy.failure === 'timeout') this.subgraph.latencies?.record(name, elapsed() * 1000);
        health.recordFailure(name, servedBy.failure);
        if (traced?.fetchSpan) {
          traced.fetchSpan.setAttributes({ 'gateway.subgraph.result': servedBy.failure, 'gateway.fallback.source': servedBy.use.source });
          failSpan(traced.fetchSpan, servedBy.failure, `${servedBy.failure}; answered from the ${servedBy.use.source} fallback`);
        }
        return response;
      }
      if (fromCache) {
        // The response cache answered: no call was made, so nothing is said of the subgraph.
        traced?.fetchSpan?.setAttribute('gateway.response_cache', 'hit');
        return response;
      }
      const result: SubgraphResult = response.errors?.length ? 'graphql_error' : 'success';
      metrics.observeSubgraphCall(name, result, elapsed());
      this.subgraph.latencies?.record(name, elapsed() * 1000);
      health.recordSuccess(name);
      traced?.fetchSpan?.setAttribute('gateway.subgraph.result', result);
      return response;
    } catch (error) {
      const result = classifyFailure(error);
      metrics.observeSubgraphCall(name, result, elapsed());
      if (result === 'timeout') this.subgraph.latencies?.record(name, elapsed() * 1000);
      const reason = describeError(error);
      health.recordFailure(name, reason);
      if (traced?.fetchSpan) {
        traced.fetchSpan.setAttribute('gateway.subgraph.result', result);
        failSpan(traced.fetchSpan, result, reason);
      }
      // A call refused by an open breaker is logged at debug: the breaker's opening was logged at warn.
      this.subgraph.logger[result === 'breaker_open' ? 'debug' : 'warn'](
        { subgraph: name, reqId: context?.requestId, result, reason },
        'subgraph call failed',
      );
      // Answer instead of throwing: the gateway then nulls only this subgraph's part of the
      // response, adds the path, and returns the rest. The client learns which subgraph failed,
      // never its address or its error body; the log above has those under the request id.
      return unavailable(name);
    }
  }

  /**
   * With tracing on: Apollo's `gateway.fetch` span (active while Apollo calls `process()`), which
   * gets the call's result and fallback as attributes, and the tracer of the attempts below it.
   */
  private traced(context: Partial<GatewayContext> | undefined): { fetchSpan: Span | undefined; attempts: AttemptTracer } | undefined {
    const requestTrace = context?.state?.trace;
    if (!requestTrace) return undefined;
    const active = otelContext.active();
    const fetchSpan = otelTrace.getSpan(active);
    const parent = fetchSpan ? active : requestTrace.context;
    return { fetchSpan, attempts: subgraphAttemptTracer(requestTrace, parent, this.subgraph.name, this.url) };
  }

  private processCall(
    options: GraphQLDataSourceProcessOptions<GatewayContext>,
    context: Partial<GatewayContext> | undefined,
    attempts: AttemptTracer | undefined,
    onFallbackServed: (failure: CallFailure | undefined, use: FallbackUse) => void,
    onCacheHit: () => void,
  ): Promise<GatewayGraphQLResponse> {
    const resilience = this.subgraph.resilience;
    const forwarded = this.requestHeaders(options, context);
    const collect = this.responseCollector(context);
    if (!resilience) {
      if (!attempts && !forwarded && !collect) return this.send(this, options, this.fetcher);
      // Plain calls (traced: one attempt span around the fetcher, its traceparent sent along).
      const plain = this.fetcher;
      const send = (url: string, init: RequestInitLike) =>
        attempts
          ? attempts.attempt(1, undefined, (traceHeaders) => plain(url, { ...init, headers: { ...init.headers, ...traceHeaders } }))
          : plain(url, init);
      const fetcher = (async (url: string, init: RequestInitLike) => {
        const response = await send(url, init);
        collect?.((response.headers as { all?(): Readonly<Record<string, string | string[] | undefined>> | undefined }).all?.());
        return response;
      }) as unknown as Fetcher;
      return this.send(this.perCall(fetcher, forwarded), options, fetcher);
    }
    const state = context?.state;
    // A call that joined another caller's call in flight gets its answer, but never its Set-Cookie.
    let joined = false;
    const info: CallInfo = {
      query: options.request.query ?? '',
      operationName: options.request.operationName ?? undefined,
      variables: options.request.variables ?? undefined,
      incomingMutation: options.kind === 'incoming operation' && options.incomingRequestContext.operation?.operation === 'mutation',
      deadline: (state?.receivedAt ?? Date.now()) + resilience.requestDeadlineMs,
      requestId: context?.requestId,
      incomingHeader:
        options.kind === 'incoming operation'
          ? (header) => options.incomingRequestContext.request.http?.headers.get(header) ?? undefined
          : undefined,
      onFallback: (use, failure) => {
        if (state) (state.fallbacks ??= []).push(use);
        onFallbackServed(failure, use);
      },
      trace: attempts,
      forwardedHeaders: forwarded && keyOf(forwarded),
      onJoined: () => (joined = true),
    };
    const fetcher = (async (url: string, init: RequestInitLike) => {
      const answer = await resilience.caller.call(url, init, info);
      if (answer.fromCache) onCacheHit();
      collect?.(answer.headers, joined);
      return bufferedResponse(url, answer.status, answer.contentType, answer.body, {
        cacheControl: answer.cacheControl,
        headers: answer.headers,
      });
    }) as unknown as Fetcher;
    return this.send(this.perCall(fetcher, forwarded), options, fetcher);
  }

  /** Apollo's `process()` on `source` (this data source or a per-call object), or the gateway's leaner copy of it when APQ is off. */
  private send(source: this, options: GraphQLDataSourceProcessOptions<GatewayContext>, fetcher: Fetcher): Promise<GatewayGraphQLResponse> {
    return source.apq ? super.process.call(source, options) : processOperationCall(source, options, fetcher);
  }

  /** The object one call runs on: this data source, with the call's fetcher and forwarded headers. */
  private perCall(fetcher: Fetcher, forwarded: HeaderOutput | undefined): this {
    return Object.create(this, { fetcher: { value: fetcher }, forwarded: { value: forwarded } }) as this;
  }

  /** The request rules' output for this call, from the client's request and the caller; undefined: nothing to forward. */
  private requestHeaders(options: GraphQLDataSourceProcessOptions<GatewayContext>, context: Partial<GatewayContext> | undefined) {
    const rules = this.subgraph.headerRules?.(context?.state).request;
    if (!rules || rules.empty) return undefined;
    const incoming = options.kind === 'incoming operation' ? options.incomingRequestContext.request.http?.headers : undefined;
    const output = rules.apply(incoming ?? NO_HEADERS, context?.state?.principal);
    return output.size ? output : undefined;
  }

  /** Where the response rules put what they keep of this call's answer; undefined: no rules, or no collector on the request. */
  private responseCollector(context: Partial<GatewayContext> | undefined) {
    const rules = this.subgraph.headerRules?.(context?.state).response;
    const collector: ResponseHeaderCollector | undefined = context?.state?.subgraphResponseHeaders;
    if (!rules || rules.empty || !collector) return undefined;
    return (headers: Readonly<Record<string, string | string[] | undefined>> | undefined, joined = false) => {
      if (!headers) return;
      const output = rules.apply(headerInputOf(headers), context?.state?.principal);
      if (joined) output.delete('set-cookie');
      if (output.size) collector.add(output);
    };
  }
}

/** The forwarded headers as a dedupe and cache key part: names sorted, so the order rules set them in does not matter. */
function keyOf(forwarded: HeaderOutput): string {
  return [...forwarded]
    .map(([name, values]) => `${name}:${values.join(', ')}`)
    .sort()
    .join('\n');
}

function unavailable(subgraph: string): GatewayGraphQLResponse {
  return {
    errors: [
      {
        message: `Subgraph "${subgraph}" is unavailable.`,
        extensions: { code: 'SUBGRAPH_UNAVAILABLE', subgraph },
      },
    ] as unknown as GatewayGraphQLResponse['errors'],
  };
}

/** Apollo raises HTTP answers (4xx) with `extensions.response.status`; the resilience layer raises its own kinds. */
function classifyFailure(error: unknown): SubgraphResult {
  const status = (error as { extensions?: { response?: { status?: unknown } } }).extensions?.response?.status;
  return typeof status === 'number' ? 'http_error' : callFailureOf(error);
}
