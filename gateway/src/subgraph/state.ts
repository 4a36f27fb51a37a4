export type FallbackSource = 'cache' | 'static';

/** One fallback a response used (a subgraph call answered from a kept or static copy), as reported in `extensions.fallbacks`. */
export interface FallbackUse {
  subgraph: string;
  source: FallbackSource;
  /** Seconds since the cached copy was stored; null for static fallbacks. */
  age: number | null;
}

declare module '../context.js' {
  interface RequestState {
    /** Fallbacks that stood in for failed subgraph calls, reported in `extensions.fallbacks`. */
    fallbacks?: FallbackUse[] | undefined;
  }
}
