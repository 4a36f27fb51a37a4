import type { FallbackUse } from './resilient-call.js';

declare module '../context.js' {
  interface RequestState {
    /** Fallbacks that stood in for failed subgraph calls, reported in `extensions.fallbacks`. */
    fallbacks?: FallbackUse[] | undefined;
  }
}

export type { FallbackUse };
