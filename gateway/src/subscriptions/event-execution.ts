import type { executeQueryPlan, GraphQLDataSource } from '@apollo/gateway';
import type { QueryPlan } from '@apollo/query-planner';
import type { ExecutionResult, GraphQLFormattedError } from 'graphql';
import { installedExecuteQueryPlan } from '../graphql/apollo-execution.js';
import type { SubscriptionPlan } from './planner.js';

/** The service name the event's own data source answers under; no subgraph can be called this. */
const EVENT_SOURCE = '__subscription_event__';

type RequestContext = Parameters<typeof executeQueryPlan>[2];

/** One event from the owning subgraph: the `data` (and `errors`) of its `next` message. */
export interface UpstreamEvent {
  data?: Record<string, unknown> | null | undefined;
  errors?: readonly GraphQLFormattedError[] | undefined;
}

/**
 * Runs the rest of a subscription's plan on one event, with the executor queries run with (the
 * gateway's port of `@apollo/gateway`'s, or Apollo's own where the port is not installed):
 * the plan handed to `executeQueryPlan` is `Sequence[primary, rest]` where the primary fetch is
 * answered by a data source that returns the event (the executor refuses a `Subscription` node,
 * but runs a fetch of any operation text). Every other fetch goes through the subgraph data
 * sources that queries use: the same breakers, retries, dedupe and fallbacks. The result is shaped
 * to the client's selection by the executor, as for a query.
 */
export async function executeEvent(
  plan: SubscriptionPlan,
  event: UpstreamEvent,
  dataSources: Readonly<Record<string, GraphQLDataSource>>,
  requestContext: RequestContext,
): Promise<ExecutionResult> {
  const primary = { ...plan.primary, serviceName: EVENT_SOURCE };
  const queryPlan: QueryPlan = {
    kind: 'QueryPlan',
    node: plan.rest ? { kind: 'Sequence', nodes: [primary, plan.rest] } : primary,
  };
  const eventSource: GraphQLDataSource = {
    process: async () => ({ data: event.data ?? null, ...(event.errors ? { errors: [...event.errors] } : {}) }),
  };
  const serviceMap = { ...dataSources, [EVENT_SOURCE]: eventSource };
  const result = await installedExecuteQueryPlan()(
    queryPlan,
    serviceMap,
    requestContext,
    plan.operationContext,
    plan.supergraphSchema,
    plan.apiSchema,
    undefined,
  );
  return result as ExecutionResult;
}
