import type { GraphQLDataSource } from '@apollo/gateway';
import { GraphQLError, type ExecutionResult, type FormattedExecutionResult, type GraphQLFormattedError } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { ERRORS } from '../errors.js';
import { EventChannel, type EndReason } from './channel.js';
import { executeEvent, type UpstreamEvent } from './event-execution.js';
import type { SubscriptionPlan } from './planner.js';

type RequestContext = Parameters<typeof executeEvent>[3];

export interface UpstreamOptions {
  /** How often the upstream subscription is re-established after its connection was lost, before clients get an error. */
  retryAttempts: number;
  /** The first wait before a reconnect, doubled each attempt (with jitter), at most `retryMaxMs`. */
  retryBaseMs: number;
  retryMaxMs: number;
}

export interface SessionOptions {
  plan: SubscriptionPlan;
  /** The owning subgraph's `ws://` / `wss://` URL. */
  upstreamUrl: string;
  /** Sent as `connectionParams.headers`: the principal's identity headers and the request id. */
  headers: Record<string, string>;
  variables: Record<string, unknown> | undefined;
  dataSources: Readonly<Record<string, GraphQLDataSource>>;
  /** A fresh request context for each event (its own deadline, errors and fallbacks). */
  eventContext(): RequestContext;
  /** Runs one event's execution when the gateway-wide limit of events in execution allows. */
  eventSlot<T>(execute: () => Promise<T>): Promise<T>;
  upstream: UpstreamOptions;
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
 * Subscribes to the owning subgraph over `graphql-transport-ws` and, for each event, in order, runs
 * the rest of the plan (see event-execution.ts) and hands the result to the subscriber. A lost
 * upstream connection is re-established with back-off (graphql-ws re-subscribes); when it cannot
 * be, the subscriber gets a `SUBSCRIPTION_UPSTREAM_FAILED` error and the stream ends.
 */
export function startSession(options: SessionOptions): SubscriptionSession {
  const { plan } = options;
  const upstream: { client?: Client; unsubscribe?: () => void } = {};
  let inFlight: Promise<void> = Promise.resolve();
  let pending = 0;
  const results = new EventChannel<FormattedExecutionResult>(
    options.bufferSize,
    (reason) => {
      upstream.unsubscribe?.();
      // dispose() awaits the connection in progress, which rejects when it fails or, between two
      // reconnects, is given up because nothing is subscribed any more: nothing is left to close then.
      Promise.resolve(upstream.client?.dispose()).catch(() => undefined);
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

  const client = (upstream.client = createClient({
    url: options.upstreamUrl,
    webSocketImpl: WebSocket,
    connectionParams: { headers: options.headers },
    lazy: true,
    retryAttempts: options.upstream.retryAttempts,
    shouldRetry: () => true,
    retryWait: async (retries) => {
      const wait = Math.min(options.upstream.retryMaxMs, options.upstream.retryBaseMs * 2 ** retries);
      await new Promise((resolve) => setTimeout(resolve, wait / 2 + Math.random() * (wait / 2)));
    },
  }));
  upstream.unsubscribe = client.subscribe(
    { query: plan.primary.operation, operationName: plan.primary.operationName, variables: usedVariables(plan, options.variables) },
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
