import type { Breaker, CallAudience } from './breaker.js';
import { isRetryable, isRetryableOnReplicas } from './call-error.js';
import type { Replica, ReplicaPool } from './replica-pool.js';

/** An upstream with two or more replicas: its pool, and the header `consistent_hash` hashes (unset for other strategies). */
export interface ReplicaRoute {
  pool: ReplicaPool;
  hashHeader?: string | undefined;
}

/**
 * How attempts reach an upstream: its one URL behind its breaker, or (an upstream configured with
 * several `upstreams`) the replica the pool picks, each replica behind its own breaker, a retry to
 * another one; the caller's URL is not used then.
 */
export type UpstreamRoute = { breaker: Breaker; replicas?: undefined } | { breaker?: undefined; replicas: ReplicaRoute };

/** The attempts of one call on its route. */
export interface RoutedCall {
  /**
   * Runs one attempt: `send` gets the URL to call (the replica's, with replicas) and whether it is
   * a half-open breaker's probe, and runs behind the breaker. `hedge`: the second attempt of a
   * hedged call, only ever to a replica this call has not tried.
   */
  attempt<T>(send: (url: string, probe: boolean) => Promise<T>, hedge?: boolean): Promise<T>;
  /** Whether a hedge could go somewhere now: a usable replica this call has not tried (never without replicas). */
  canHedge(): boolean;
  /** Which failures may be retried on this route: with replicas, also a replica's open breaker (the retry goes elsewhere). */
  isRetryable(error: unknown): boolean;
}

/**
 * One call on `route` to `url` (`key`: the value `consistent_hash` hashes, if any; `audience`: the
 * callers waiting for it, each counted by the breaker). With no route (resilience off), each
 * attempt goes straight to `url`.
 */
export function routeCall(route: UpstreamRoute | undefined, url: string, key: string | undefined, audience?: CallAudience): RoutedCall {
  const replicas = route?.replicas;
  if (replicas) {
    // Replicas this call has tried: each retry goes to another one while there is one.
    const tried = new Set<Replica>();
    return {
      attempt: (send, hedge) => replicas.pool.run(tried, key, send, audience, hedge),
      canHedge: () => replicas.pool.hasUntried(tried),
      isRetryable: isRetryableOnReplicas,
    };
  }
  const breaker = route?.breaker;
  return {
    attempt: (send) => (breaker ? breaker.run(() => send(url, false), audience) : send(url, false)),
    canHedge: () => false,
    isRetryable,
  };
}
