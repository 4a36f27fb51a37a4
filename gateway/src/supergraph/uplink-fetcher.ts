import type { UplinkSourceConfig } from './config.js';
import { describeFetchError, readBodyLimited, readSecret, withoutSecrets, type FetchOutcome, type SupergraphFetcher } from './fetcher.js';

/** The query Apollo Router and @apollo/gateway send to Uplink (`Unchanged` carries the id and delay too). */
export const SUPERGRAPH_SDL_QUERY = `query SupergraphSdl($apiKey: String!, $ref: String!, $ifAfterId: ID) {
  routerConfig(ref: $ref, apiKey: $apiKey, ifAfterId: $ifAfterId) {
    __typename
    ... on RouterConfigResult { id supergraphSdl: supergraphSDL minDelaySeconds }
    ... on Unchanged { id minDelaySeconds }
    ... on FetchError { code message }
  }
}`;

/** FetchError codes that mean "this endpoint cannot answer now": the next endpoint is asked. Others (a bad key, an unknown graph ref) are the same everywhere. */
const RETRY_ELSEWHERE = new Set(['RETRY_LATER', 'NOT_IMPLEMENTED_ON_THIS_INSTANCE']);

type RouterConfig =
  | { __typename: 'RouterConfigResult'; id: string; supergraphSdl: string; minDelaySeconds?: number | null }
  | { __typename: 'Unchanged'; id?: string | null; minDelaySeconds?: number | null }
  | { __typename: 'FetchError'; code: string; message: string };

/** An answer that says the same thing at every endpoint: failing over would not help. */
class FinalUplinkError extends Error {}

/**
 * The `uplink` source: Apollo GraphOS's Uplink protocol, as @apollo/gateway's UplinkSupergraphManager
 * and Apollo Router speak it. Each fetch sends the last composition id as `ifAfterId` (Uplink answers
 * `Unchanged` when nothing is newer) and tries the endpoints in turn until one answers, starting with
 * the one that answered last; a `FetchError` other than "retry later" ends the fetch as an error.
 */
export function uplinkFetcher(config: UplinkSourceConfig, maxBytes: number, env: NodeJS.ProcessEnv = process.env): SupergraphFetcher {
  const graphRef = config.graphRef ?? env.APOLLO_GRAPH_REF;
  if (!graphRef) throw new Error('supergraph.uplink.graphRef: set it, or the APOLLO_GRAPH_REF environment variable');
  const apiKey = readSecret({ env: config.apiKeyEnv }, 'supergraph.uplink.apiKeyEnv', env);
  const endpoints = config.endpoints.map((url) => ({ url, location: withoutSecrets(url) }));
  let preferred = 0;

  const ask = async (url: string, ifAfterId: string | undefined, signal: AbortSignal): Promise<FetchOutcome> => {
    const response = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json',
        'apollographql-client-name': 'federation-gateway',
        'apollographql-client-version': '0.1.0',
      },
      body: JSON.stringify({
        query: SUPERGRAPH_SDL_QUERY,
        operationName: 'SupergraphSdl',
        variables: { apiKey, ref: graphRef, ifAfterId: ifAfterId ?? null },
      }),
      signal: AbortSignal.any([signal, AbortSignal.timeout(config.timeoutMs)]),
    });
    const text = await readBodyLimited(response, maxBytes);
    const body = (() => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        return undefined;
      }
    })() as { data?: { routerConfig?: RouterConfig }; errors?: { message: string }[] } | undefined;
    if (!response.ok && response.status !== 400) throw new Error(`HTTP ${response.status}`);
    if (body?.errors?.length) throw new Error(body.errors.map((e) => e.message).join('; '));
    const routerConfig = body?.data?.routerConfig;
    const minDelayMs = (seconds: number | null | undefined) => (seconds ? { minDelayMs: seconds * 1000 } : {});
    switch (routerConfig?.__typename) {
      case 'RouterConfigResult':
        if (!routerConfig.supergraphSdl?.trim()) throw new Error('RouterConfigResult without a supergraph');
        return {
          result: 'updated',
          sdl: routerConfig.supergraphSdl,
          version: { id: routerConfig.id },
          ...minDelayMs(routerConfig.minDelaySeconds),
        };
      case 'Unchanged':
        return {
          result: 'unchanged',
          ...(routerConfig.id ? { version: { id: routerConfig.id } } : {}),
          ...minDelayMs(routerConfig.minDelaySeconds),
        };
      case 'FetchError': {
        const message = `FetchError ${routerConfig.code}: ${routerConfig.message}`;
        throw RETRY_ELSEWHERE.has(routerConfig.code) ? new Error(message) : new FinalUplinkError(message);
      }
      default:
        throw new Error(`unexpected answer (HTTP ${response.status})`);
    }
  };

  return {
    kind: 'uplink',
    location: endpoints.map((endpoint) => endpoint.location).join(', '),
    async fetch(previous, signal) {
      const failures: string[] = [];
      for (let attempt = 0; attempt < endpoints.length; attempt++) {
        const index = (preferred + attempt) % endpoints.length;
        const endpoint = endpoints[index] as (typeof endpoints)[number];
        try {
          const outcome = await ask(endpoint.url, previous?.id, signal);
          preferred = index;
          return outcome;
        } catch (error) {
          const reason = error instanceof FinalUplinkError ? error.message : describeFetchError(error);
          failures.push(`${endpoint.location}: ${reason}`);
          if (error instanceof FinalUplinkError) preferred = index;
          if (error instanceof FinalUplinkError || signal.aborted) break;
        }
      }
      throw new Error(`Uplink (${graphRef}): ${failures.join('; ')}`);
    },
  };
}
