import type { Logger } from 'pino';
import type { BudgetStore, ChargeResult, ChargedBy, LimitSpec, LimitState, RefundResult } from './budget.js';

export class BudgetStoreUnavailableError extends Error {
  override readonly name = 'BudgetStoreUnavailableError';
}

export interface FailoverOptions {
  /** Longest a call to the primary store may take before the fallback answers. */
  timeoutMs: number;
  /** While degraded, how long to stay on the fallback before trying the primary again. */
  retryPrimaryAfterMs: number;
  /** The store used while the primary is unavailable; undefined means fail closed. */
  fallback: BudgetStore | undefined;
  logger: Logger;
  /** Called on every failed primary call (for metrics). */
  onPrimaryError?(): void;
}

/**
 * Keeps budgets answering when Redis is slow or down: each call goes to the primary store with a
 * deadline; when it fails, the fallback answers (fail open: a per-instance in-memory limiter) or
 * the call is refused (fail closed), and further calls skip the primary until `retryPrimaryAfterMs`
 * has passed. The transition to degraded and back is logged once each.
 */
export class FailoverBudgetStore implements BudgetStore {
  private degradedUntil = 0;
  private degraded = false;

  constructor(
    private readonly primary: BudgetStore,
    private readonly options: FailoverOptions,
  ) {}

  /** True while calls are answered by the fallback (or refused). */
  get isDegraded(): boolean {
    return this.degraded;
  }

  async charge(client: string, cost: number, limits: readonly LimitSpec[]): Promise<ChargeResult> {
    let answeredBy: ChargedBy = 'primary';
    const result = await this.call((store) => {
      answeredBy = store === this.primary ? 'primary' : 'fallback';
      return store.charge(client, cost, limits);
    });
    return { ...result, chargedBy: answeredBy };
  }

  /**
   * A refund goes to the store that took the charge: points charged in Redis are not given back to
   * the in-memory limiter (or the reverse). If that store cannot take it now, the refund is lost
   * (the client was charged its estimate), which errs on the side of the budget.
   */
  refund(client: string, points: number, limits: readonly LimitSpec[], chargedBy?: ChargedBy): Promise<RefundResult> {
    if (chargedBy === 'fallback') {
      if (!this.options.fallback) return Promise.reject(new BudgetStoreUnavailableError('no fallback store'));
      return this.options.fallback.refund(client, points, limits);
    }
    if (chargedBy === 'primary') return withDeadline(this.primary.refund(client, points, limits), this.options.timeoutMs);
    return this.call((store) => store.refund(client, points, limits));
  }

  peek(client: string, limits: readonly LimitSpec[]): Promise<LimitState[]> {
    return this.call((store) => store.peek(client, limits));
  }

  /**
   * Resets the client in the primary and in the fallback (a client charged in memory during an
   * outage is reset there too); the primary's failure is passed on, so an operator knows the shared
   * budget was not reset.
   */
  async reset(client: string, limits: readonly LimitSpec[]): Promise<number> {
    const local = (await this.options.fallback?.reset(client, limits)) ?? 0;
    return local + (await withDeadline(this.primary.reset(client, limits), this.options.timeoutMs));
  }

  /** The primary's held refunds are sent (the fallback, in memory, holds none). */
  async close(): Promise<void> {
    await this.primary.close?.();
  }

  private async call<T>(operation: (store: BudgetStore) => Promise<T>): Promise<T> {
    if (this.degraded && Date.now() < this.degradedUntil) return this.fallback(operation);
    try {
      const result = await withDeadline(operation(this.primary), this.options.timeoutMs);
      if (this.degraded) {
        this.degraded = false;
        this.options.logger.info('rate-limit store recovered: budgets are shared again');
      }
      return result;
    } catch (error) {
      this.options.onPrimaryError?.();
      if (!this.degraded) {
        this.options.logger.error(
          { err: error instanceof Error ? error.message : String(error), failOpen: Boolean(this.options.fallback) },
          this.options.fallback
            ? 'rate-limit store unavailable: failing open to a per-instance in-memory limiter'
            : 'rate-limit store unavailable: failing closed',
        );
      }
      this.degraded = true;
      this.degradedUntil = Date.now() + this.options.retryPrimaryAfterMs;
      return this.fallback(operation);
    }
  }

  private fallback<T>(operation: (store: BudgetStore) => Promise<T>): Promise<T> {
    if (!this.options.fallback) return Promise.reject(new BudgetStoreUnavailableError('the rate-limit store is unavailable'));
    return operation(this.options.fallback);
  }
}

function withDeadline<T>(promise: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}
