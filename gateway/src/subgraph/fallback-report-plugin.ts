import type { ApolloServerPlugin } from '@apollo/server';
import type { GatewayContext } from '../context.js';
import type { FallbackUse } from './state.js';

/** Response header naming the fallback sources a response used, e.g. `cache` or `cache, static`. */
export const FALLBACK_SOURCE_HEADER = 'x-fallback-source';

/**
 * Says so when a response used a fallback: `extensions.fallbacks: [{subgraph, source, age, reason}]`
 * (one entry per subgraph, source and reason, sorted by them; `age` is the oldest cached copy's, in
 * seconds, null for static; `reason` `error` or `slow`)
 * and the `X-Fallback-Source` header. Reads what the subgraph data sources put on the request state.
 */
export function useFallbackReport(): ApolloServerPlugin<GatewayContext> {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ contextValue, response }) {
          const used = contextValue.state.fallbacks ?? [];
          if (used.length === 0 || response.body.kind !== 'single') return;
          const fallbacks = summarise(used);
          const result = response.body.singleResult;
          result.extensions = { ...result.extensions, fallbacks };
          response.http.headers.set(FALLBACK_SOURCE_HEADER, [...new Set(fallbacks.map((f) => f.source))].join(', '));
        },
      };
    },
  };
}

function summarise(used: readonly FallbackUse[]): FallbackUse[] {
  const bySubgraphAndSource = new Map<string, FallbackUse>();
  for (const use of used) {
    const key = `${use.subgraph}\n${use.source}\n${use.reason}`;
    const seen = bySubgraphAndSource.get(key);
    if (!seen) bySubgraphAndSource.set(key, { ...use });
    else if (use.age !== null && (seen.age === null || use.age > seen.age)) seen.age = use.age;
  }
  // Calls run in parallel, so their order is not the plan's: sort for a stable answer.
  return [...bySubgraphAndSource.values()].sort(
    (a, b) => a.subgraph.localeCompare(b.subgraph) || a.source.localeCompare(b.source) || a.reason.localeCompare(b.reason),
  );
}
