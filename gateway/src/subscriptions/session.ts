import type { GraphQLDataSource } from '@apollo/gateway';
import { GraphQLError, type ExecutionResult, type FormattedExecutionResult, type GraphQLFormattedError } from 'graphql';
import { ERRORS } from '../errors.js';
import { EventChannel, type EndReason } from './channel.js';
import { executeEvent, type UpstreamEvent } from './event-execution.js';
import type { SubscriptionPlan } from './planner.js';
import type { UpstreamLease } from './upstream-connections.js';

type RequestContext = Parameters<typeof executeEvent>[3];

export interface SessionOptions {
  plan: SubscriptionPlan;
  /** A connection to the owning subgraph (shared with the subscriptions of the same identity), released when this one ends. */
  upstream: UpstreamLease;
  /** Sent with the subscribe message, as `extensions.headers` (the request id: the connection may be shared). */
  headers: Record<string, string>;
  variables: Record<string, unknown> | undefined;
  dataSources: Readonly<Record<string, GraphQLDataSource>>;
  /** A fresh request context for each event (its own deadline, errors and fallbacks). */
  eventContext(): RequestContext;
  /** Runs one event's execution when the gateway-wide limit of events in execution allows. */
  eventSlot<T>(execute: () => Promise<T>): Promise<T>;
  /** Results that may wait for the subscriber; one more drops it (`slow_consumer`). */
  bufferSize: number;
  /** Runs after each event's execution, before it is delivered; a returned reason ends the subscription instead. */
  afterEvent?(
    result: FormattedExecutionResult,
  ): Promise<{ result?: FormattedExecutionResult; end?: EndReason; error?: GraphQLFormattedError } | undefined>;
  onEnd(reason: EndReason): void;
  /** Events delivered to the subscriber or dropped (metrics). */
  onCount?(kind: 'delivered' | 'dropped', n: number): void;
}

/** One client subscription: its results, and how to end it from outside (shutdown, reload, expiry). */
export interface SubscriptionSession {
  readonly results: EventChannel<FormattedExecutionResult>;
  /** Ends it with a reason and a last error for the client; waits for the event in flight. */
  end(reason: EndReason, error?: GraphQLFormattedError): Promise<void>;
  readonly plan: SubscriptionPlan;
}

/**
 * Subscribes to the owning subgraph over `graphql-transport-ws` (on the lent connection) and, for
 * each event, in order, runs the rest of the plan (see event-execution.ts) and hands the result to
 * the subscriber. A lost upstream connection is re-established with back-off (graphql-ws
 * re-subscribes); when it cannot be, the subscriber gets a `SUBSCRIPTION_UPSTREAM_FAILED` error and
 * the stream ends.
 */
export function startSession(options: SessionOptions): SubscriptionSession {
  const { plan } = options;
  const upstream: { unsubscribe?: () => void } = {};
  let inFlight: Promise<void> = Promise.resolve();
  let pending = 0;
  const results = new EventChannel<FormattedExecutionResult>(
    options.bufferSize,
    (reason) => {
      // Not from inside graphql-ws's `next` (a slow consumer ends there): were the subgraph's
      // `complete` for this subscription in the same read, its client would release the operation
      // twice and close the connection the other subscriptions of the same identity still use.
      setImmediate(() => {
        upstream.unsubscribe?.();
        options.upstream.release();
      });
      options.onEnd(reason);
    },
    SLOW_CONSUMER,
  );

  results.onCount = options.onCount;

  const handle = async (event: UpstreamEvent) => {
    try {
      if (results.ended) return;
      const executed = formatted(await options.eventSlot(() => executeEvent(plan, event, options.dataSources, options.eventContext())));
      const verdict = await options.afterEvent?.(executed);
      if (results.ended) return;
      // An event that ends the subscription (its cost could not be charged) is not delivered: only why it ended.
      if (verdict?.end) {
        results.count('dropped', 1);
        results.end(verdict.end, verdict.error ? { errors: [verdict.error] } : undefined);
      } else results.push(verdict?.result ?? executed);
    } catch (error) {
      results.end('error', {
        errors: [{ message: error instanceof Error ? error.message : String(error), extensions: { code: 'INTERNAL_SERVER_ERROR' } }],
      });
    } finally {
      pending--;
    }
  };

  upstream.unsubscribe = options.upstream.client.subscribe(
    {
      query: plan.primary.operation,
      operationName: plan.primary.operationName,
      variables: usedVariables(plan, options.variables),
      extensions: { headers: options.headers },
    },
    {
      next: (event) => {
        // Events are run one after the other, so the client sees them in the subgraph's order; one
        // that waits behind more than the buffer means the subscriber (or the graph) cannot keep up.
        if (++pending > options.bufferSize) {
          pending--;
          results.count('dropped', pending + 1);
          results.end('slow_consumer', SLOW_CONSUMER);
          return;
        }
        inFlight = inFlight.then(() => handle(event as UpstreamEvent));
      },
      error: (error) => {
        const errors = Array.isArray(error) ? (error as GraphQLFormattedError[]) : undefined;
        // Not a GraphQL error of this subscription: the connection itself is gone for good.
        if (!errors) options.upstream.retire();
        void inFlight.then(() =>
          results.end(
            errors ? 'error' : 'upstream_failed',
            errors ? { errors } : { errors: [{ message: UPSTREAM_FAILED, extensions: { code: 'SUBSCRIPTION_UPSTREAM_FAILED' } }] },
          ),
        );
      },
      complete: () => void inFlight.then(() => results.end('complete')),
    },
  );

  return {
    results,
    plan,
    async end(reason, error) {
      upstream.unsubscribe?.();
      await inFlight;
      results.end(reason, error ? { errors: [error] } : undefined);
    },
  };
}

const SLOW_CONSUMER: FormattedExecutionResult = {
  errors: [{ message: ERRORS.SUBSCRIPTION_SLOW_CONSUMER.message, extensions: { code: 'SUBSCRIPTION_SLOW_CONSUMER' } }],
};

const UPSTREAM_FAILED =
  'The subgraph that serves this subscription could not be reached (after the configured retries); the subscription has ended.';

function usedVariables(plan: SubscriptionPlan, variables: Record<string, unknown> | undefined): Record<string, unknown> {
  const used: Record<string, unknown> = {};
  for (const name of plan.primary.variableUsages ?? []) if (variables && name in variables) used[name] = variables[name];
  return used;
}

/** The result as a client receives it: errors as plain objects (message, path, extensions). */
export function formatted(result: ExecutionResult): FormattedExecutionResult {
  const { errors, ...rest } = result;
  if (!errors?.length) return rest;
  return { ...rest, errors: errors.map((error) => (error instanceof GraphQLError ? error.toJSON() : (error as GraphQLFormattedError))) };
}
