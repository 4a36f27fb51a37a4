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
        response = await fetchFollowingRedirects(
          config.url,
          headers,
          authHeader?.name,
          AbortSignal.any([signal, AbortSignal.timeout(config.timeoutMs)]),
        );
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

const MAX_REDIRECTS = 5;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * A GET that follows up to {@link MAX_REDIRECTS} redirects itself, so that the registry's secret
 * header goes to the configured origin only: fetch's own following keeps every custom header on a
 * redirect to another host (it drops `Authorization` alone), which would hand `X-Hive-CDN-Key` to
 * whatever host a redirect names.
 */
async function fetchFollowingRedirects(
  url: string,
  headers: Record<string, string>,
  secretHeader: string | undefined,
  signal: AbortSignal,
): Promise<Response> {
  const origin = new URL(url).origin;
  let target = new URL(url);
  let sent = headers;
  for (let hop = 0; ; hop++) {
    const response = await fetch(target, { headers: sent, signal, redirect: 'manual' });
    if (!REDIRECTS.has(response.status)) return response;
    const location = response.headers.get('location');
    await response.body?.cancel();
    if (!location) throw new Error(`HTTP ${response.status} without a Location`);
    if (hop >= MAX_REDIRECTS) throw new Error(`more than ${MAX_REDIRECTS} redirects`);
    target = new URL(location, target);
    if (target.protocol !== 'https:' && target.protocol !== 'http:') throw new Error(`a redirect to ${target.protocol} is not followed`);
    if (secretHeader && target.origin !== origin && secretHeader in sent) {
      sent = { ...sent };
      delete sent[secretHeader];
    }
  }
}
