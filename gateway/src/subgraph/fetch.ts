import type { RemoteGraphQLDataSource } from '@apollo/gateway';
import { Agent, fetch as undiciFetch } from 'undici';
import type { UpstreamFetch } from './upstream.js';

export type Fetcher = RemoteGraphQLDataSource['fetcher'];

export interface SubgraphFetch {
  /** For `RemoteGraphQLDataSource` (plain calls, `resilience.enabled: false`). */
  fetcher: Fetcher;
  /** For the resilience layer: the same pool, with an abort signal per attempt. */
  fetch: UpstreamFetch;
  close(): Promise<void>;
}

export interface SubgraphFetchOptions {
  /** Keep-alive connections per origin (the pool size). @default 128 */
  connectionsPerOrigin?: number;
}

/**
 * A keep-alive undici Agent behind a `fetch`, used as `RemoteGraphQLDataSource`'s fetcher: it
 * served 20–30% more requests per second than the default fetcher (make-fetch-happen) on this
 * machine. undici's errors say only `fetch failed`; the reason is in `error.cause`.
 */
export function createSubgraphFetch(options: SubgraphFetchOptions = {}): SubgraphFetch {
  const agent = new Agent({
    keepAliveTimeout: 10_000,
    connections: options.connectionsPerOrigin ?? 128,
  });
  const fetch = ((url: string, init?: Parameters<typeof undiciFetch>[1]) =>
    undiciFetch(url, { ...init, dispatcher: agent })) as unknown as UpstreamFetch;
  return { fetcher: fetch as unknown as Fetcher, fetch, close: () => agent.close() };
}
