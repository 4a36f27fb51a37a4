import { inheritedByOperations } from '../context.js';
import type { ResponseHeaderCollector } from '../headers/guards.js';

export type FallbackSource = 'cache' | 'static';
/** Why a copy answered: `error`, the call failed; `slow`, it had not answered by its soft deadline (stale-if-slow) and went on. */
export type FallbackReason = 'error' | 'slow';

/** One fallback a response used (a subgraph call answered from a kept or static copy), as reported in `extensions.fallbacks`. */
export interface FallbackUse {
  subgraph: string;
  source: FallbackSource;
  /** Seconds since the cached copy was stored; null for static fallbacks. */
  age: number | null;
  reason: FallbackReason;
}

declare module '../context.js' {
  interface RequestState {
    /** Fallbacks that stood in for failed subgraph calls, reported in `extensions.fallbacks`. */
    fallbacks?: FallbackUse[] | undefined;
    /**
     * Headers the response rules kept from subgraph answers, written to the client's response when
     * it is sent; set on the HTTP request, shared by the operations of a batch.
     */
    subgraphResponseHeaders?: ResponseHeaderCollector | undefined;
  }
}

inheritedByOperations('subgraphResponseHeaders');
