import {
  HeaderMap,
  type ApolloServerPlugin,
  type GraphQLRequestContextResponseForOperation,
  type GraphQLRequestContextWillSendResponse,
  type GraphQLResponse,
} from '@apollo/server';
import { GraphQLError, type DocumentNode, type GraphQLFormattedError } from 'graphql';
import type { TierConfig } from '../rate-limit/config.js';
import type { GatewayContext, RequestState } from '../context.js';
import { ActualCostPlans, actualCost } from './actual.js';
import { eventCharger } from './event-charge.js';
import { estimateCost, type CostEstimate } from './estimate.js';
import type { CostAnalyzer, CostModelSource } from './model-source.js';
import { ERRORS, type ErrorCode } from '../errors.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import { failSpan } from '../observability/request-trace.js';
import type { ChargedBy, LimitState } from '../rate-limit/budget.js';
import type { BudgetClient, BudgetService } from '../rate-limit/budget-service.js';
import { scaleRefill, type AdaptiveRefill, type RefillAdjustment } from '../rate-limit/adaptive.js';
import { bindingLimit, throttleStatus } from '../rate-limit/headers.js';
import { resolvePolicy, type OperationPolicy } from '../rate-limit/policy.js';
import { FieldOwners } from '../supergraph/field-owners.js';

export interface CostAndBudgetOptions {
  /** The cost model of the served schema (directives + `schema/costs.yaml`). */
  costs: CostModelSource;
  /** Size of a list with no `@listSize` information. @default 10 */
  defaultListSize?: number;
  /** Request header that asks for a dry run (breakdown, no execution, no charge); undefined: disabled. @default undefined */
  explainHeader?: string | undefined;
  /**
   * Per-tier limits (`rateLimit.tiers`) and the tier of a principal whose tier has no entry there
   * (`rateLimit.defaultTier`), as they stand now: read once per operation, when it is admitted, so
   * a config reload applies to the next operation and one in flight keeps the policy it was charged under.
   */
  tierPolicy: () => TierPolicy;
  /** Where estimates are charged; undefined: the tier's per-operation limits apply, no budget is kept. @default undefined */
  budget?: BudgetService | undefined;
  /** Put `extensions.cost` in responses. @default true */
  extensions?: boolean;
  /** Adaptive budgets (`rateLimit.adaptive`): slower refill while a subgraph the operation uses is degraded. @default undefined */
  adaptive?: AdaptiveRefill | undefined;
  metrics?: GatewayMetrics | undefined;
}

export interface TierPolicy {
  tiers: Readonly<Record<string, TierConfig>>;
  defaultTier: string;
}

interface Admitted {
  analyzer: CostAnalyzer;
  /** The operation that ran (after authorization's filtering). */
  document: DocumentNode;
  estimate: CostEstimate;
  client: BudgetClient;
  policy: OperationPolicy;
  /** The budget after the charge; undefined when no budget is kept. */
  limits: LimitState[] | undefined;
  /** Which store took the charge, so the refund goes there. */
  chargedBy?: ChargedBy | undefined;
  /** The adaptive-budget adjustment the charge was made with. */
  adjustment?: RefillAdjustment | undefined;
}

/**
 * Cost analysis and the per-client budget. Runs after authorization, on the operation it
 * filtered, and before execution (`responseForOperation`, so that a refusal sends nothing to any
 * subgraph):
 *
 * 1. the estimate, from the cache by query hash and the variables that change the cost;
 * 2. a dry run when the explain header is sent: the breakdown in `extensions.cost`, nothing run or charged;
 * 3. list-size violations, then the tier's depth / alias / root-field limits, then its `maxCost` → 400;
 * 4. the estimate charged to every limit of the client → 429 `RATE_LIMITED` (or 503 when the store is
 *    down and the gateway fails closed);
 * 5. after execution (`willSendResponse`): the actual cost of the data, the difference refunded, and
 *    `extensions.cost` and the rate-limit headers on the response.
 */
export function useCostAndBudget(options: CostAndBudgetOptions): ApolloServerPlugin<GatewayContext> {
  const { costs, adaptive } = options;
  // Which subgraphs each (cached, so shared) estimate touches; rebuilt when the supergraph changes.
  let owners: FieldOwners | undefined;
  let subgraphsByEstimate = new WeakMap<CostEstimate, string[]>();
  const run: CostRun = {
    options,
    defaultListSize: options.defaultListSize ?? 10,
    withExtensions: options.extensions ?? true,
    explainHeader: options.explainHeader?.toLowerCase(),
    subgraphsOf(estimate) {
      let subgraphs = subgraphsByEstimate.get(estimate);
      if (!subgraphs) {
        subgraphs = owners?.subgraphsOf(estimate.fields.map((field) => field.coordinate)) ?? [];
        subgraphsByEstimate.set(estimate, subgraphs);
      }
      return subgraphs;
    },
  };

  return {
    async serverWillStart() {
      return {
        schemaDidLoadOrUpdate({ apiSchema, coreSupergraphSdl }) {
          if (coreSupergraphSdl === undefined) return;
          costs.load(apiSchema, coreSupergraphSdl);
          if (adaptive) {
            owners = FieldOwners.fromSupergraph(coreSupergraphSdl);
            subgraphsByEstimate = new WeakMap();
          }
        },
        async serverWillStop() {
          costs.close();
        },
      };
    },
    async requestDidStart() {
      let admitted: Admitted | undefined;
      return {
        async responseForOperation(requestContext) {
          return withCostSpan(requestContext.contextValue.state, async () => {
            const decision = await admit(run, requestContext);
            admitted = decision.admitted;
            const { budget } = run.options;
            if (admitted && budget && requestContext.operation.operation === 'subscription') {
              requestContext.contextValue.state.chargeEvent = eventCharger({
                budget,
                analyzer: admitted.analyzer,
                document: admitted.document,
                operationName: requestContext.request.operationName,
                variables: requestContext.request.variables,
                client: admitted.client,
                limits: admitted.policy.limits,
                // As a query's: kept with the (cached, so shared) estimate, so events walk their data without working plans out again.
                plans: ActualCostPlans.keptWith(admitted.estimate),
              });
            }
            return decision.response;
          });
        },
        async willSendResponse(requestContext) {
          if (admitted && requestContext.response.body.kind === 'single') await settle(run, admitted, requestContext);
        },
      };
    },
  };
}

/** What the plugin's request hooks share: the options, with their defaults, and the subgraphs an estimate touches. */
interface CostRun {
  options: CostAndBudgetOptions;
  defaultListSize: number;
  withExtensions: boolean;
  explainHeader: string | undefined;
  subgraphsOf(estimate: CostEstimate): string[];
}

/** The operation's answer when it is refused (or explained), and what to settle when it runs. */
interface Admission {
  response: GraphQLResponse | null;
  admitted?: Admitted | undefined;
}

/** The `gateway.cost` span around the admission, when the request is traced. */
async function withCostSpan(state: RequestState, admitOnce: () => Promise<GraphQLResponse | null>): Promise<GraphQLResponse | null> {
  const span = state.trace?.startSpan('gateway.cost');
  if (!span) return admitOnce();
  try {
    const response = await admitOnce();
    if (state.cost) span.setAttribute('gateway.cost.estimated', state.cost.estimated);
    if (state.rateLimit) span.setAttribute('gateway.rate_limit.result', state.rateLimit.result);
    if (state.rateLimit?.remaining !== undefined) span.setAttribute('gateway.rate_limit.remaining', state.rateLimit.remaining);
    const refused = response?.body.kind === 'single' ? response.body.singleResult.errors?.[0]?.extensions?.code : undefined;
    if (refused) span.setAttribute('gateway.cost.refused', String(refused));
    return response;
  } catch (error) {
    failSpan(span, 'exception', error instanceof Error ? error.message : String(error));
    throw error;
  } finally {
    span.end();
  }
}

/** Steps 1 to 4: estimate, explain, check the limits, charge. */
async function admit(run: CostRun, requestContext: GraphQLRequestContextResponseForOperation<GatewayContext>): Promise<Admission> {
  const { options } = run;
  const { schema, document, operation, request, queryHash, contextValue } = requestContext;
  if (!operation) return { response: null };
  const analyzer = options.costs.analyzer(schema);
  if (!analyzer)
    return {
      response: errorResponse('INTERNAL_SERVER_ERROR', [error('INTERNAL_SERVER_ERROR', 'The cost model is not loaded for this schema.')]),
    };
  let estimate: CostEstimate;
  try {
    estimate = analyzer.cache.get(queryHash ?? request.query ?? '', document, request.operationName, request.variables, () =>
      estimateCost(analyzer.schema, analyzer.model, document, {
        operationName: request.operationName,
        variables: request.variables,
        defaultListSize: run.defaultListSize,
      }),
    );
  } catch (cause) {
    // The estimator's own refusals (GraphQLError) explain themselves; anything else is an
    // internal failure whose message is for the log, not for the client.
    if (cause instanceof GraphQLError)
      return { response: errorResponse('BAD_REQUEST', [error('BAD_REQUEST', `The operation cannot be costed: ${cause.message}`)]) };
    contextValue.logger.error(
      { reqId: contextValue.requestId, err: cause instanceof Error ? cause.message : String(cause) },
      'cost estimate failed',
    );
    return { response: errorResponse('BAD_REQUEST', [error('BAD_REQUEST', 'The operation cannot be costed.')]) };
  }
  options.metrics?.operationCost.observe({ kind: 'estimated' }, estimate.cost);
  contextValue.state.cost = { estimated: estimate.cost };

  const principal = contextValue.state.principal;
  const { tiers, defaultTier } = options.tierPolicy();
  let policy = resolvePolicy(tiers, defaultTier, principal?.tier ?? 'anonymous', {
    operationName: request.operationName ?? operation.name?.value,
    rootFields: estimate.fields.filter((field) => !field.path.includes('.')).map((field) => field.coordinate),
  });
  const adjustment = options.adaptive?.forSubgraphs(run.subgraphsOf(estimate));
  if (adjustment && adjustment.factor < 1) policy = { ...policy, limits: scaleRefill(policy.limits, adjustment.factor) };

  if (run.explainHeader && wantsExplain(request.http?.headers.get(run.explainHeader))) {
    return {
      response: {
        http: { status: 200, headers: new HeaderMap() },
        body: { kind: 'single', singleResult: { extensions: { cost: explain(estimate, policy, adjustment) } } },
      },
    };
  }
  const refusal = checkLimits(estimate, policy);
  if (refusal) {
    options.metrics?.rateLimitDecisions.inc({ tier: policy.tier, result: 'rejected' });
    return { response: refusal };
  }
  const client: BudgetClient = { clientKey: principal?.clientKey ?? 'ip:unknown', tier: policy.tier };
  const admitted: Admitted = { analyzer, document, estimate, client, policy, limits: undefined, adjustment };
  return options.budget ? charge(run, options.budget, admitted, contextValue.state) : { response: null, admitted };
}

/** Step 4: the estimate charged to every limit of the client (429, or 503 when the store is down and failing closed). */
async function charge(run: CostRun, budget: BudgetService, admitted: Admitted, state: RequestState): Promise<Admission> {
  const { estimate, client, policy, adjustment } = admitted;
  const outcome = await budget.charge(client, estimate.cost, policy.limits, { settleLater: true });
  state.rateLimit = {
    result: outcome.result,
    remaining: outcome.result === 'unavailable' ? undefined : bindingLimit(outcome.limits)?.remaining,
  };
  const unavailable = () => errorResponse('RATE_LIMIT_UNAVAILABLE', [error('RATE_LIMIT_UNAVAILABLE')], { 'retry-after': '1' });
  if (outcome.result === 'unavailable') return { response: unavailable() };
  if (outcome.result === 'limited') {
    const cost = {
      requestedQueryCost: estimate.cost,
      actualQueryCost: 0,
      throttleStatus: adaptiveThrottleStatus(outcome.limits, adjustment),
    };
    const retryAfterSeconds = Number(outcome.headers['retry-after']);
    const message = `${ERRORS.RATE_LIMITED.message.split(':')[0]}: this operation costs ${estimate.cost} points; retry in ${retryAfterSeconds} s.`;
    return {
      response: errorResponse(
        'RATE_LIMITED',
        [error('RATE_LIMITED', message, { retryAfterSeconds, cost })],
        outcome.headers,
        run.withExtensions ? { cost } : undefined,
      ),
    };
  }
  return { response: null, admitted: { ...admitted, limits: outcome.limits, chargedBy: outcome.chargedBy } };
}

/** Step 5: the actual cost of the data, the difference refunded, `extensions.cost` and the rate-limit headers. */
async function settle(
  run: CostRun,
  admitted: Admitted,
  requestContext: GraphQLRequestContextWillSendResponse<GatewayContext>,
): Promise<void> {
  const { budget, metrics } = run.options;
  const { analyzer, document, estimate, client, policy } = admitted;
  if (requestContext.response.body.kind !== 'single') return;
  const result = requestContext.response.body.singleResult;
  const { request } = requestContext;
  let actual = estimate.cost;
  try {
    actual = actualCost(
      analyzer.schema,
      analyzer.model,
      document,
      { operationName: request.operationName, variables: request.variables },
      result.data,
      // Kept with the (cached, so shared) estimate: both are keyed by what can change them.
      ActualCostPlans.keptWith(estimate),
    );
  } catch {
    // A response the model cannot walk is charged its estimate (nothing refunded).
  }
  metrics?.operationCost.observe({ kind: 'actual' }, actual);
  requestContext.contextValue.state.cost = { estimated: estimate.cost, actual };
  let limits = admitted.limits;
  // Refunds the unused part and counts what was spent (gateway_client_cost_total).
  if (budget && limits) limits = (await budget.settle(client, estimate.cost, actual, policy.limits, admitted.chargedBy, limits)) ?? limits;
  if (run.withExtensions) {
    result.extensions = {
      ...result.extensions,
      cost: {
        requestedQueryCost: estimate.cost,
        actualQueryCost: actual,
        ...(limits ? { throttleStatus: adaptiveThrottleStatus(limits, admitted.adjustment) } : {}),
      },
    };
  }
  if (budget && limits)
    for (const [name, value] of Object.entries(budget.headers(limits))) requestContext.response.http.headers.set(name, value);
}

function wantsExplain(value: string | undefined): boolean {
  return value !== undefined && !/^(0|false)?$/i.test(value.trim());
}

/**
 * Shopify's `throttleStatus`, plus, while adaptive budgets slow the refill, the factor applied and
 * the degraded subgraphs behind it (`restoreRate` is already the slowed rate).
 */
function adaptiveThrottleStatus(limits: readonly LimitState[], adjustment: RefillAdjustment | undefined) {
  const status = throttleStatus(limits);
  if (!status || !adjustment || adjustment.factor >= 1) return status;
  return { ...status, refillFactor: adjustment.factor, degradedSubgraphs: adjustment.degraded };
}

function explain(estimate: CostEstimate, policy: OperationPolicy, adjustment: RefillAdjustment | undefined) {
  return {
    dryRun: true,
    requestedQueryCost: estimate.cost,
    maximumCost: policy.maxCost,
    tier: policy.tier,
    depth: estimate.depth,
    aliases: estimate.aliases,
    rootFields: estimate.rootFields,
    violations: estimate.violations,
    ...(adjustment && adjustment.factor < 1 ? { refillFactor: adjustment.factor, degradedSubgraphs: adjustment.degraded } : {}),
    explain: estimate.fields,
  };
}

/** The first reason to refuse the operation before charging anything, as a 400 response. */
function checkLimits(estimate: CostEstimate, policy: OperationPolicy): GraphQLResponse | undefined {
  if (estimate.violations.length > 0) {
    const errors = estimate.violations.map((violation) => {
      const message =
        violation.code === 'LIST_SIZE_TOO_LARGE'
          ? `${violation.path}: ${violation.argument} is ${violation.value}, at most ${violation.max} is allowed.`
          : `${violation.path}: give exactly one of ${violation.arguments.join(', ')} (found ${violation.found}).`;
      const { code, ...details } = violation;
      return error(code, message, details);
    });
    return errorResponse(estimate.violations[0]?.code ?? 'LIST_SIZE_TOO_LARGE', errors);
  }
  const shape: [ErrorCode, string, number, number][] = [
    ['MAX_DEPTH_EXCEEDED', 'depth', estimate.depth, policy.maxDepth],
    ['MAX_ALIASES_EXCEEDED', 'aliases', estimate.aliases, policy.maxAliases],
    ['MAX_ROOT_FIELDS_EXCEEDED', 'root fields', estimate.rootFields, policy.maxRootFields],
  ];
  for (const [code, what, value, max] of shape) {
    if (value > max)
      return errorResponse(code, [
        error(code, `The operation has ${value} ${what}; tier ${policy.tier} allows at most ${max}.`, { value, max }),
      ]);
  }
  if (estimate.cost > policy.maxCost) {
    return errorResponse('COST_ESTIMATED_TOO_EXPENSIVE', [
      error(
        'COST_ESTIMATED_TOO_EXPENSIVE',
        `The operation's estimated cost is ${estimate.cost}; tier ${policy.tier} allows at most ${policy.maxCost} per operation.`,
        {
          cost: { estimated: estimate.cost, max: policy.maxCost },
        },
      ),
    ]);
  }
  return undefined;
}

function error(code: ErrorCode, message: string = ERRORS[code].message, extensions: Record<string, unknown> = {}): GraphQLFormattedError {
  return { message, extensions: { code, ...extensions } };
}

function errorResponse(
  code: ErrorCode,
  errors: GraphQLFormattedError[],
  headers: Record<string, string> = {},
  extensions?: Record<string, unknown>,
): GraphQLResponse {
  const map = new HeaderMap();
  for (const [name, value] of Object.entries(headers)) map.set(name, value);
  return {
    http: { status: ERRORS[code].status, headers: map },
    body: { kind: 'single', singleResult: { errors, ...(extensions ? { extensions } : {}) } },
  };
}
