import type { GraphQLFormattedError } from 'graphql';
import type { BudgetClient, BudgetService } from '../rate-limit/budget-service.js';
import type { LimitSpec } from '../rate-limit/budget.js';
import { ERRORS } from '../errors.js';
import { actualCost, type ActualCostPlans } from './actual.js';
import type { CostAnalyzer } from './model-source.js';
import type { DocumentNode } from 'graphql';

/** What charging one event of a subscription came to: allowed, or the error that ends the subscription. */
export type EventCharge = { allowed: true; cost: number } | { allowed: false; cost: number; error: GraphQLFormattedError };

declare module '../context.js' {
  interface RequestState {
    /**
     * Set on an admitted subscription when a budget is kept: charges one event's actual cost (by the
     * same model as a query's) to the client's budget. A refusal is the error the client gets.
     */
    chargeEvent?: ((data: unknown) => Promise<EventCharge>) | undefined;
  }
}

export interface EventChargeOptions {
  budget: BudgetService;
  analyzer: CostAnalyzer;
  /** The operation that runs (after authorization's filtering). */
  document: DocumentNode;
  operationName: string | null | undefined;
  variables: Readonly<Record<string, unknown>> | null | undefined;
  client: BudgetClient;
  limits: readonly LimitSpec[];
  /** What the walk of an event's data works out per selection set: kept across the events (see ActualCostPlans). */
  plans: ActualCostPlans;
}

/**
 * The charger of one subscription's events. The estimate was charged when it subscribed (the
 * admission); each event then costs what its data costs, charged at once (nothing to refund).
 * Out of budget: `RATE_LIMITED`, as for a query; a store that is down while failing closed:
 * `RATE_LIMIT_UNAVAILABLE`.
 */
export function eventCharger(options: EventChargeOptions): (data: unknown) => Promise<EventCharge> {
  return async (data) => {
    let cost: number;
    try {
      cost = actualCost(options.analyzer.schema, options.analyzer.model, options.document, options, data, options.plans);
    } catch {
      cost = 1;
    }
    if (cost <= 0) return { allowed: true, cost };
    const outcome = await options.budget.charge(options.client, cost, options.limits);
    if (outcome.result === 'allowed') return { allowed: true, cost };
    if (outcome.result === 'unavailable') {
      return {
        allowed: false,
        cost,
        error: { message: ERRORS.RATE_LIMIT_UNAVAILABLE.message, extensions: { code: 'RATE_LIMIT_UNAVAILABLE' } },
      };
    }
    const retryAfterSeconds = Number(outcome.headers['retry-after']);
    return {
      allowed: false,
      cost,
      error: {
        message: `${ERRORS.RATE_LIMITED.message.split(':')[0]}: this event costs ${cost} points; the subscription has ended, subscribe again in ${retryAfterSeconds} s.`,
        extensions: { code: 'RATE_LIMITED', retryAfterSeconds },
      },
    };
  };
}
