/** The budget's answer to one request's charge, kept on the request's state for its log line and span. */
export interface RateLimitSummary {
  result: 'allowed' | 'limited' | 'unavailable';
  /** Points left in the binding limit; absent when the store did not answer. */
  remaining?: number | undefined;
}

declare module '../context.js' {
  interface RequestState {
    /** The budget's answer to this request's charge (GraphQL or REST); absent when nothing was charged. */
    rateLimit?: RateLimitSummary | undefined;
  }
}
