import type { RemoteGraphQLDataSource } from '@apollo/gateway';
import { Agent, fetch as undiciFetch } from 'undici';

export type Fetcher = RemoteGraphQLDataSource['fetcher'];

export interface SubgraphFetch {
  fetcher: Fetcher;
  close(): Promise<void>;
}

/**
 * A keep-alive undici Agent behind a `fetch`, used as `RemoteGraphQLDataSource`'s fetcher: it
 * served 20–30% more requests per second than the default fetcher (make-fetch-happen) on this
 * machine. undici's errors say only `fetch failed`; the reason is in `error.cause`.
 */
export function createSubgraphFetch(options: { connectionsPerOrigin?: number } = {}): SubgraphFetch {
  const agent = new Agent({
    keepAliveTimeout: 10_000,
    connections: options.connectionsPerOrigin ?? 128,
  });
  const fetcher = ((url: string, init?: Parameters<typeof undiciFetch>[1]) =>
    undiciFetch(url, { ...init, dispatcher: agent })) as unknown as Fetcher;
  return { fetcher, close: () => agent.close() };
}
