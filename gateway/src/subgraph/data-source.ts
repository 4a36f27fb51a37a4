import { RemoteGraphQLDataSource, type GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import type { Logger } from 'pino';
import { principalHeaderNames, principalHeaders, type PrincipalHeaderNames } from '../auth/principal.js';
import type { GatewayContext } from '../context.js';
import type { GatewayMetrics, SubgraphResult } from '../observability/metrics.js';
import type { Fetcher } from './fetch.js';
import type { SubgraphHealthBook } from './health.js';

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
  logger: Logger;
}

/**
 * The one hook per subgraph (`buildService`): forwards the request id, and times and classifies
 * every call for metrics and readiness. Apollo's own behaviour is untouched.
 */
export class SubgraphDataSource extends RemoteGraphQLDataSource<GatewayContext> {
  private readonly subgraph: Omit<SubgraphDataSourceOptions, 'url' | 'fetcher'>;

  constructor(options: SubgraphDataSourceOptions) {
    super({ url: options.url, fetcher: options.fetcher });
    const { url: _url, fetcher: _fetcher, ...rest } = options;
    this.subgraph = rest;
  }

  override willSendRequest(options: GraphQLDataSourceProcessOptions<GatewayContext>): void {
    const context = options.context as Partial<GatewayContext> | undefined;
    const headers = options.request.http?.headers;
    if (!headers) return;
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
    try {
      const response = await super.process(options);
      const result: SubgraphResult = response.errors?.length ? 'graphql_error' : 'success';
      metrics.observeSubgraphCall(name, result, elapsed());
      health.recordSuccess(name);
      return response;
    } catch (error) {
      const result = classifyFailure(error);
      metrics.observeSubgraphCall(name, result, elapsed());
      const reason = describeFailure(error);
      health.recordFailure(name, reason);
      const requestId = (options.context as Partial<GatewayContext> | undefined)?.requestId;
      this.subgraph.logger.warn({ subgraph: name, reqId: requestId, result, reason }, 'subgraph call failed');
      // Answer instead of throwing: the gateway then nulls only this subgraph's part of the
      // response, adds the path, and returns the rest. The client learns which subgraph failed,
      // never its address or its error body; the log above has those under the request id.
      return unavailable(name);
    }
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

/** Apollo raises HTTP failures with `extensions.response.status`; anything else is the network. */
function classifyFailure(error: unknown): SubgraphResult {
  const status = (error as { extensions?: { response?: { status?: unknown } } }).extensions?.response?.status;
  return typeof status === 'number' ? 'http_error' : 'network_error';
}

function describeFailure(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as Error & { cause?: unknown }).cause;
  const causeCode = (cause as { code?: unknown } | undefined)?.code;
  const causeMessage = cause instanceof Error ? cause.message : undefined;
  return [error.message, causeCode ?? causeMessage].filter(Boolean).join(': ');
}
