import type { UrlSourceConfig } from './config.js';
import { describeFetchError, readBodyLimited, readSecret, withoutSecrets, type FetchOutcome, type SupergraphFetcher } from './fetcher.js';

/**
 * The `url` source: a GET that sends back the last answer's `ETag` (`If-None-Match`) and
 * `Last-Modified` (`If-Modified-Since`), so an unchanged supergraph costs a 304 and no body. Works
 * with any object store or CDN that serves validators, and with Hive's CDN (`…/supergraph` with an
 * `X-Hive-CDN-Key` header).
 */
export function urlFetcher(config: UrlSourceConfig, maxBytes: number, env: NodeJS.ProcessEnv = process.env): SupergraphFetcher {
  const authHeader = config.authHeader
    ? { name: config.authHeader.name, value: readSecret(config.authHeader, 'supergraph.url.authHeader', env) }
    : undefined;
  const location = withoutSecrets(config.url);
  return {
    kind: 'url',
    location,
    async fetch(previous, signal): Promise<FetchOutcome> {
      const headers: Record<string, string> = { accept: 'text/plain, application/graphql, */*' };
      if (authHeader) headers[authHeader.name] = authHeader.value;
      if (previous?.etag) headers['if-none-match'] = previous.etag;
      if (previous?.lastModified) headers['if-modified-since'] = previous.lastModified;
      let response: Response;
      let sdl: string;
      try {
        response = await fetch(config.url, {
          headers,
          signal: AbortSignal.any([signal, AbortSignal.timeout(config.timeoutMs)]),
          redirect: 'follow',
        });
        if (response.status === 304) {
          await response.body?.cancel();
          return { result: 'unchanged' };
        }
        sdl = await readBodyLimited(response, maxBytes);
      } catch (error) {
        throw new Error(`GET ${location}: ${describeFetchError(error)}`);
      }
      if (response.status !== 200) throw new Error(`GET ${location}: HTTP ${response.status}`);
      if (!sdl.trim()) throw new Error(`GET ${location}: empty body`);
      const etag = response.headers.get('etag') ?? undefined;
      const lastModified = response.headers.get('last-modified') ?? undefined;
      return { result: 'updated', sdl, version: { ...(etag ? { etag } : {}), ...(lastModified ? { lastModified } : {}) } };
    },
  };
}
