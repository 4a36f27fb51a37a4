import type { RemoteGraphQLDataSource } from '@apollo/gateway';
import { createUpstreamFetch, type RequestInitLike, type UpstreamFetch, type UpstreamPoolOptions } from '../upstream/pool.js';

export type Fetcher = RemoteGraphQLDataSource['fetcher'];

export interface SubgraphFetch {
  /** For `RemoteGraphQLDataSource` (plain calls, `resilience.enabled: false`). */
  fetcher: Fetcher;
  /** For the resilience layer: the same pool, with an abort signal per attempt. */
  fetch: UpstreamFetch;
  close(): Promise<void>;
}

/**
 * A subgraph's connection pool ({@link createUpstreamFetch}) behind both the fetch-shaped `fetcher`
 * Apollo calls and the resilience layer's `fetch`. Both paths share this transport, so the
 * resilience benchmark compares the resilience layer and nothing else.
 */
export function createSubgraphFetch(options: UpstreamPoolOptions = {}): SubgraphFetch {
  const pool = createUpstreamFetch(options);
  const { fetch } = pool;
  // Apollo's fetcher contract, on the same transport: the body is read at once, then served from memory.
  const fetcher = (async (url: string, init: RequestInitLike) => {
    const response = await fetch(url, init);
    return bufferedResponse(url, response.status, response.headers.get('content-type'), await response.text(), {
      // Apollo reads it to restrict the client's Cache-Control, with or without the resilience layer.
      cacheControl: response.headers.get('cache-control'),
      headers: response.headers.all?.(),
    });
  }) as unknown as Fetcher;

  return { fetcher, fetch, close: () => pool.close() };
}

/**
 * An answer already read, in the shape Apollo reads from its fetcher (`ok`, `status`, `headers.get`,
 * `json()`, `text()`), without wrapping the string in a WHATWG Response and a web stream again.
 */
export function bufferedResponse(
  url: string,
  status: number,
  contentType: string | null,
  body: string,
  extra: {
    /** What Apollo reads to restrict the client's Cache-Control (the most restrictive of the calls). */
    cacheControl?: string | null | undefined;
    /** Every header as received, for the response header rules. */
    headers?: Readonly<Record<string, string | string[] | undefined>> | undefined;
  } = {},
) {
  return {
    ok: status >= 200 && status < 300,
    status,
    statusText: '',
    url,
    redirected: false,
    headers: {
      get: (name: string) => {
        const lower = name.toLowerCase();
        return lower === 'content-type' ? contentType : lower === 'cache-control' ? (extra.cacheControl ?? null) : null;
      },
      all: () => extra.headers,
    },
    json: async () => JSON.parse(body) as unknown,
    text: async () => body,
  };
}
