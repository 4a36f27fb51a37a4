import type { SourceVersion } from './fetcher.js';

/** Where the served supergraph comes from and how its last fetches went: the `source` part of `/ready`. */
export interface SourceStatus {
  kind: 'file' | 'url' | 'uplink';
  /** The file, the URL or the Uplink endpoints, without secrets. */
  location: string;
  /** When the source was last asked (ISO 8601). */
  lastFetchAt?: string;
  /** When the source last answered (with a supergraph, or "unchanged"). */
  lastSuccessAt?: string;
  /** When a new supergraph from the source last replaced the served one. */
  lastUpdateAt?: string;
  /** The ETag / Last-Modified or the Uplink composition id of the last answer. */
  version?: SourceVersion;
  /** The last failed fetch or refused supergraph; cleared by the next success. */
  lastError?: { at: string; message: string };
  /** True while the supergraph served is the copy read from `supergraph.cacheFile` at start. */
  usingCachedCopy: boolean;
  cacheFile?: string;
}
