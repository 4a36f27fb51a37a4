import type { RedisClient } from '../redis/client.js';
import type { Logger } from 'pino';
import type { RateLimitConfig } from './config.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import type { BudgetStore, ChargedBy, LimitSpec, LimitState, RefundResult } from './budget.js';
import { BudgetStoreUnavailableError, FailoverBudgetStore } from './failover-store.js';
import { rateLimitHeaders, retryAfterHeader, type RateLimitHeaderOptions } from './headers.js';
import { MemoryBudgetStore } from './memory-store.js';
import { RedisBudgetStore } from './redis-store.js';

/** Who is charged: the principal's `clientKey` and the tier its limits come from (for metrics). */
export interface BudgetClient {
  clientKey: string;
  tier: string;
}

export type ChargeOutcome =
  | { result: 'allowed'; limits: LimitState[]; headers: Record<string, string>; chargedBy?: ChargedBy | undefined }
  /** Over budget: answer 429 with these headers (`retry-after` included). */
  | { result: 'limited'; retryAfterSeconds: number | null; limits: LimitState[]; headers: Record<string, string> }
  /** The store is down and the gateway fails closed: answer 503. */
  | { result: 'unavailable'; headers: Record<string, string> };

export interface BudgetServiceOptions {
  store: BudgetStore;
  headers: RateLimitHeaderOptions;
  metrics?: GatewayMetrics | undefined;
}

/**
 * Charging a client's budget, for any protocol (the GraphQL plugin and the REST passthrough): the
 * cost is charged to every limit or none, refunds give back what was not used, and the outcome
 * carries the headers to send. Each charge is counted in `gateway_rate_limit_total{tier,result}`.
 */
export class BudgetService {
  constructor(private readonly options: BudgetServiceOptions) {}

  get store(): BudgetStore {
    return this.options.store;
  }

  /**
   * Charges `cost` to every limit or none. An allowed charge counts as spent in
   * `gateway_client_cost_total` now, unless `settleLater` is set: then the caller reports what was
   * really used with {@link settle} (the GraphQL plugin, which refunds the unused part).
   */
  async charge(
    client: BudgetClient,
    cost: number,
    limits: readonly LimitSpec[],
    options: { settleLater?: boolean } = {},
  ): Promise<ChargeOutcome> {
    let outcome: ChargeOutcome;
    try {
      const charged = await this.options.store.charge(client.clientKey, cost, limits);
      const headers = this.headers(charged.limits);
      if (charged.allowed) {
        outcome = { result: 'allowed', limits: charged.limits, headers, chargedBy: charged.chargedBy };
        if (!options.settleLater) this.options.metrics?.observeClientCost(client.clientKey, client.tier, cost);
      } else {
        // null: the cost is larger than a limit's maximum and will never fit; a day is the honest hint.
        const retry = charged.retryAfterSeconds ?? 86_400;
        outcome = {
          result: 'limited',
          retryAfterSeconds: charged.retryAfterSeconds,
          limits: charged.limits,
          headers: { ...headers, 'retry-after': retryAfterHeader(retry) },
        };
      }
    } catch (error) {
      if (!(error instanceof BudgetStoreUnavailableError)) throw error;
      outcome = { result: 'unavailable', headers: {} };
    }
    this.options.metrics?.rateLimitDecisions.inc({ tier: client.tier, result: outcome.result });
    return outcome;
  }

  /**
   * Gives back `points` (never above a limit's maximum) to the store that took the charge
   * (`chargedBy` from the allowed outcome); the state after, `deferred` (the store sends it
   * later), or undefined if that store failed.
   */
  async refund(
    client: BudgetClient,
    points: number,
    limits: readonly LimitSpec[],
    chargedBy?: ChargedBy,
  ): Promise<RefundResult | undefined> {
    try {
      return await this.options.store.refund(client.clientKey, points, limits, chargedBy);
    } catch {
      return undefined;
    }
  }

  /**
   * Closes a charge made with `settleLater`: refunds `charged - used` when positive and counts what
   * the client finally spent (`used`, or all of `charged` if the refund failed; a refund the store
   * holds to send later counts as given back, and is counted in the store errors if it is lost).
   * The state after the refund (worked out from `chargedState`, the state the charge left, when the
   * store holds the refund to send it later), or undefined when nothing was refunded.
   */
  async settle(
    client: BudgetClient,
    charged: number,
    used: number,
    limits: readonly LimitSpec[],
    chargedBy?: ChargedBy,
    chargedState?: readonly LimitState[],
  ): Promise<LimitState[] | undefined> {
    const unused = charged - used;
    const after = unused > 0 ? await this.refund(client, unused, limits, chargedBy) : undefined;
    this.options.metrics?.observeClientCost(client.clientKey, client.tier, after ? used : charged);
    if (after !== 'deferred') return after;
    return chargedState?.map((state) => refunded(state, unused));
  }

  /** Sends what the store holds (deferred refunds): at shutdown, before Redis is let go. */
  async close(): Promise<void> {
    await this.options.store.close?.();
  }

  headers(states: readonly LimitState[]): Record<string, string> {
    return rateLimitHeaders(states, this.options.headers);
  }
}

/**
 * The state a charge left, with `points` given back: what the store will hold once a deferred
 * refund reaches it (other requests of the client aside). A bucket's reset is when it is full
 * again at its restore rate; a window's reset is when the window moves on, which a refund does not change.
 */
function refunded(state: LimitState, points: number): LimitState {
  const remaining = Math.min(state.max, state.remaining + points);
  if (state.kind === 'sliding_window') return { ...state, remaining };
  return { ...state, remaining, resetSeconds: state.restoreRate > 0 ? (state.max - remaining) / state.restoreRate : 0 };
}

/**
 * The store the config asks for: in memory, or Redis behind a {@link FailoverBudgetStore} that
 * fails open to a per-instance in-memory limiter or fails closed.
 */
export function createBudgetStore(
  config: RateLimitConfig,
  redis: RedisClient | undefined,
  logger: Logger,
  metrics?: GatewayMetrics,
): { store: BudgetStore; kind: 'memory' | 'redis' } {
  const useRedis = config.store === 'redis' || (config.store === 'auto' && redis !== undefined);
  if (!useRedis) return { store: new MemoryBudgetStore(), kind: 'memory' };
  if (!redis) throw new Error('rateLimit.store is redis but no redis.url is configured');
  const store = new FailoverBudgetStore(
    new RedisBudgetStore(redis, { refundDelayMs: config.refundDelayMs, onRefundLost: () => metrics?.rateLimitStoreErrors.inc() }),
    {
      timeoutMs: config.storeTimeoutMs,
      retryPrimaryAfterMs: config.retryStoreAfterMs,
      fallback: config.onStoreFailure === 'open' ? new MemoryBudgetStore() : undefined,
      logger,
      onPrimaryError: () => metrics?.rateLimitStoreErrors.inc(),
    },
  );
  return { store, kind: 'redis' };
}
