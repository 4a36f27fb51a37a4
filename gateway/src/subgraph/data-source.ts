import { RemoteGraphQLDataSource, type GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import type { Logger } from 'pino';
import type { GatewayContext } from '../context.js';
import type { GatewayMetrics, SubgraphResult } from '../observability/metrics.js';
import { callFailureOf, describeError, type CallFailure } from './call-error.js';
import { bufferedResponse, type Fetcher } from './fetch.js';
import type { SubgraphHealthBook } from './health.js';
import type { CallInfo, ResilientCaller } from './resilient-call.js';
import type { RequestInitLike } from './upstream.js';

type GatewayGraphQLResponse = Awaited<ReturnType<RemoteGraphQLDataSource['process']>>;

export interface SubgraphDataSourceOptions {
  name: string;
  url: string;
  fetcher: Fetcher;
  requestIdHeader: string;
  metrics: GatewayMetrics;
  health: SubgraphHealthBook;
  logger: Logger;
  /**
   * Extra headers for every call, from the request context: an embedding hook (tests use it to
   * stand in for the principal headers auth will set). Applied before `willSendRequest`, which wins.
   */
  extraHeaders?: ((context: GatewayContext) => Record<string, string> | undefined) | undefined;
  /** The resilience layer for this subgraph; absent (`resilience.enabled: false`): plain calls through `fetcher`. */
  resilience?: { caller: ResilientCaller; requestDeadlineMs: number } | undefined;
}

/**
 * The one hook per subgraph (`buildService`): forwards the request id, runs each call through the
 * resilience layer, and times and classifies every call for metrics and readiness.
 *
 * Apollo's `process()` builds the request and calls `willSendRequest`, then `this.fetcher`. To hand
 * the resilience layer the final outgoing request together with this request's context, each call
 * runs Apollo's `process()` on a per-call object whose prototype is this data source and whose
 * `fetcher` is bound to the call. Apollo's code runs unchanged.
 */
export class SubgraphDataSource extends RemoteGraphQLDataSource<GatewayContext> {
  private readonly subgraph: Omit<SubgraphDataSourceOptions, 'url' | 'fetcher'>;

  constructor(options: SubgraphDataSourceOptions) {
    super({ url: options.url, fetcher: options.fetcher });
    const { url: _url, fetcher: _fetcher, ...rest } = options;
    this.subgraph = rest;
  }

  override willSendRequest(options: GraphQLDataSourceProcessOptions<GatewayContext>): void {
    const requestId = (options.context as Partial<GatewayContext> | undefined)?.requestId;
    if (requestId) options.request.http?.headers.set(this.subgraph.requestIdHeader, requestId);
  }

  override async process(options: GraphQLDataSourceProcessOptions<GatewayContext>): Promise<GatewayGraphQLResponse> {
    const { name, metrics, health } = this.subgraph;
    const started = process.hrtime.bigint();
    const elapsed = () => Number(process.hrtime.bigint() - started) / 1e9;
    const context = options.context as Partial<GatewayContext> | undefined;
    let servedBy: CallFailure | undefined;
    this.addExtraHeaders(options, context);
    try {
      const response = await this.processCall(options, context, (failure) => (servedBy = failure));
      if (servedBy) {
        // A fallback answered: the call itself failed.
        metrics.observeSubgraphCall(name, servedBy, elapsed());
        health.recordFailure(name, servedBy);
        return response;
      }
      const result: SubgraphResult = response.errors?.length ? 'graphql_error' : 'success';
      metrics.observeSubgraphCall(name, result, elapsed());
      health.recordSuccess(name);
      return response;
    } catch (error) {
      const result = classifyFailure(error);
      metrics.observeSubgraphCall(name, result, elapsed());
      const reason = describeError(error);
      health.recordFailure(name, reason);
      this.subgraph.logger.warn({ subgraph: name, reqId: context?.requestId, result, reason }, 'subgraph call failed');
      // Answer instead of throwing: the gateway then nulls only this subgraph's part of the
      // response, adds the path, and returns the rest. The client learns which subgraph failed,
      // never its address or its error body; the log above has those under the request id.
      return unavailable(name);
    }
  }

  private addExtraHeaders(options: GraphQLDataSourceProcessOptions<GatewayContext>, context: Partial<GatewayContext> | undefined): void {
    const extra = this.subgraph.extraHeaders && context?.requestId ? this.subgraph.extraHeaders(context as GatewayContext) : undefined;
    if (!extra) return;
    const headers = new Headers(options.request.http?.headers ? Object.fromEntries(options.request.http.headers) : undefined);
    for (const [name, value] of Object.entries(extra)) headers.set(name, value);
    options.request.http = { ...options.request.http, headers } as NonNullable<typeof options.request.http>;
  }

  private processCall(
    options: GraphQLDataSourceProcessOptions<GatewayContext>,
    context: Partial<GatewayContext> | undefined,
    onFallbackServed: (failure: CallFailure) => void,
  ): Promise<GatewayGraphQLResponse> {
    const resilience = this.subgraph.resilience;
    if (!resilience) return super.process(options);
    const state = context?.state;
    const info: CallInfo = {
      query: options.request.query ?? '',
      operationName: options.request.operationName ?? undefined,
      variables: options.request.variables ?? undefined,
      incomingMutation: options.kind === 'incoming operation' && options.incomingRequestContext.operation?.operation === 'mutation',
      deadline: (state?.receivedAt ?? Date.now()) + resilience.requestDeadlineMs,
      requestId: context?.requestId,
      onFallback: (use, failure) => {
        state?.fallbacks.push(use);
        onFallbackServed(failure);
      },
    };
    const fetcher = (async (url: string, init: RequestInitLike) => {
      const answer = await resilience.caller.call(url, init, info);
      return bufferedResponse(url, answer.status, answer.contentType, answer.body);
    }) as unknown as Fetcher;
    const call = Object.create(this, { fetcher: { value: fetcher } }) as this;
    return super.process.call(call, options);
  }
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
