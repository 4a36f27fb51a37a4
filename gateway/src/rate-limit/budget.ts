/**
 * A client's budget of cost points: one or more limits that must all pass. The estimate is charged
 * up front (all limits or none), the unused part is refunded after the response.
 */
export type LimitSpec =
  | {
      /** Unique per tier, part of the storage key. */
      name: string;
      kind: 'token_bucket';
      /** Most points the bucket holds (the largest burst). */
      capacity: number;
      /** Points added back per second. */
      refillPerSecond: number;
    }
  | {
      name: string;
      kind: 'sliding_window';
      /** Points allowed per window. */
      limit: number;
      windowSeconds: number;
    };

export interface LimitState {
  name: string;
  kind: LimitSpec['kind'];
  /** Capacity of a bucket, or the points per window. */
  max: number;
  /** Points available now (after this charge or refund). */
  remaining: number;
  /** Seconds until the limit is full again (bucket) or the window moves on. */
  resetSeconds: number;
  /** Refill per second (bucket) or limit / window (window): the restore rate. */
  restoreRate: number;
}

/** Which store of a failover pair answered a charge, so its refund goes to the same one. */
export type ChargedBy = 'primary' | 'fallback';

export interface ChargeResult {
  allowed: boolean;
  /** Set by a failover store: where the charge was taken (a refund must go there, not elsewhere). */
  chargedBy?: ChargedBy | undefined;
  /** When refused: seconds until the cost fits all limits; `null` when it never can (cost > max). */
  retryAfterSeconds: number | null;
  limits: LimitState[];
}

/**
 * A refund's outcome: the state after it, or `deferred` when the store holds it to send later
 * (the Redis store with `rateLimit.refundDelayMs`), so the state after is not known here.
 */
export type RefundResult = LimitState[] | 'deferred';

export interface BudgetStore {
  /** Takes `cost` points from every limit of the client, or from none if any would go short. */
  charge(client: string, cost: number, limits: readonly LimitSpec[]): Promise<ChargeResult>;
  /**
   * Gives `points` back to every limit (never above its max); returns the state after, or
   * `deferred`. `chargedBy`: where a failover store took the charge (other stores ignore it).
   */
  refund(client: string, points: number, limits: readonly LimitSpec[], chargedBy?: ChargedBy): Promise<RefundResult>;
  /** The state of every limit without changing it. */
  peek(client: string, limits: readonly LimitSpec[]): Promise<LimitState[]>;
  /** Forgets the client's state of every limit, so each is full again; resolves to how many were stored. */
  reset(client: string, limits: readonly LimitSpec[]): Promise<number>;
  /** Sends what the store still holds (deferred refunds) before its connection goes away. */
  close?(): Promise<void>;
}

/**
 * Storage key of one limit of one client. The hash tag keeps all of a client's keys in one Redis
 * Cluster slot; braces in a client id (a JWT `sub` may hold anything) are escaped so they cannot
 * end the tag early.
 */
export function limitKey(client: string, limit: LimitSpec): string {
  const tag = client.replaceAll('%', '%25').replaceAll('{', '%7B').replaceAll('}', '%7D');
  return `rl:{${tag}}:${limit.kind === 'token_bucket' ? 'tb' : 'sw'}:${limit.name}`;
}
