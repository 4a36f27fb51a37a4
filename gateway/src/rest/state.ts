/** What the REST passthrough learned about one request, for its log line, span and metrics. */
export interface RestRequestInfo {
  route: string;
  /** Status the upstream answered with (absent: no upstream answer). */
  upstreamStatus?: number | undefined;
  /** Upstream attempts made (retries included); 0 when none was made. */
  attempts: number;
  /** `cache` when the answer is a kept copy served because the upstream failed. */
  fallback?: 'cache' | undefined;
  /** Why the upstream call failed, for the log (never sent to the client). */
  failure?: string | undefined;
  /** What the route's JSON transform did with the answer (`json transformed`, or why it streamed it untouched). */
  transform?: string | undefined;
  /** The request went to the route's split upstream (the canary). */
  split?: boolean | undefined;
}

declare module '../context.js' {
  interface RequestState {
    /** Set by the REST passthrough: the route (its prefix), the upstream's status and how it was answered. */
    rest?: RestRequestInfo | undefined;
  }
}
