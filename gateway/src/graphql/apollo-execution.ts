import { createRequire } from 'node:module';
import type { executeQueryPlan as apolloExecuteQueryPlanType } from '@apollo/gateway';
import type { Logger } from 'pino';
import { computeResponse, type ComputeResponseInput, type ComputeResponseOutput } from './result-shaping.js';
import { executeQueryPlan } from './query-plan-execution.js';

const require = createRequire(import.meta.url);

type ComputeResponse = (input: ComputeResponseInput) => ComputeResponseOutput;
type ExecuteQueryPlan = typeof apolloExecuteQueryPlanType;

/**
 * The `@apollo/gateway` versions (major.minor) whose `executeQueryPlan` and `computeResponse` the
 * gateway's ports were checked against, request for request, value for value and error for error
 * (test/query-plan-execution.test.ts and test/result-shaping.test.ts run both on the installed
 * version, in CI). Another version keeps Apollo's own.
 */
export const CHECKED_APOLLO_GATEWAY = '2.14';

/** Whose query plan execution and result shaping serve requests: the gateway's ports or Apollo's. */
export type PlanExecution = 'gateway' | 'apollo';

interface ResultShapingModule {
  computeResponse: ComputeResponse;
}
interface ExecuteQueryPlanModule {
  executeQueryPlan: ExecuteQueryPlan;
}

let apollos: { computeResponse: ComputeResponse; executeQueryPlan: ExecuteQueryPlan } | undefined;
let installed: PlanExecution | undefined;

function apolloGatewayVersion(): string {
  return (require('@apollo/gateway/package.json') as { version: string }).version;
}

/**
 * Makes `@apollo/gateway` execute query plans with the gateway's `executeQueryPlan`
 * (query-plan-execution.ts) and shape responses with its `computeResponse` (result-shaping.ts).
 * Apollo's gateway reads `executeQueryPlan` from its module at every request, and its executor
 * reads `computeResponse` likewise, so replacing those module exports takes effect for every
 * request from then on, whenever it is done. These are the places where the gateway puts its own
 * code inside Apollo's: the profile showed plan execution and result shaping, and their garbage,
 * as the largest costs of a cross-subgraph request (see docs/performance.md). Idempotent; returns
 * whose code is in use.
 */
export function installPlanExecution(logger: Logger): PlanExecution {
  if (installed) return installed;
  const version = apolloGatewayVersion();
  const shaping = require('@apollo/gateway/dist/resultShaping.js') as Partial<ResultShapingModule>;
  const execution = require('@apollo/gateway/dist/executeQueryPlan.js') as Partial<ExecuteQueryPlanModule>;
  if (
    !version.startsWith(`${CHECKED_APOLLO_GATEWAY}.`) ||
    typeof shaping.computeResponse !== 'function' ||
    typeof execution.executeQueryPlan !== 'function'
  ) {
    logger.warn(
      { apolloGateway: version, checked: CHECKED_APOLLO_GATEWAY },
      "@apollo/gateway is not a version the gateway's plan execution was checked against: Apollo's own executes plans",
    );
    installed = 'apollo';
    return installed;
  }
  apollos = { computeResponse: shaping.computeResponse, executeQueryPlan: execution.executeQueryPlan };
  shaping.computeResponse = computeResponse;
  execution.executeQueryPlan = executeQueryPlan;
  installed = 'gateway';
  return installed;
}

/** Apollo's own `computeResponse`, as it was before `installPlanExecution()` (for the tests that compare the two). */
export function apolloComputeResponse(): ComputeResponse {
  return apollos?.computeResponse ?? (require('@apollo/gateway/dist/resultShaping.js') as ResultShapingModule).computeResponse;
}

/**
 * The `executeQueryPlan` requests are served with: the gateway's once `installPlanExecution()`
 * installed it, else Apollo's. For plans the gateway runs itself (a subscription's events): an ESM
 * import of `@apollo/gateway`'s export is Apollo's own, fixed when the module was loaded.
 */
export function installedExecuteQueryPlan(): ExecuteQueryPlan {
  return installed === 'gateway' ? executeQueryPlan : apolloExecuteQueryPlan();
}

/** Apollo's own `executeQueryPlan`, as it was before `installPlanExecution()`. */
export function apolloExecuteQueryPlan(): ExecuteQueryPlan {
  return apollos?.executeQueryPlan ?? (require('@apollo/gateway/dist/executeQueryPlan.js') as ExecuteQueryPlanModule).executeQueryPlan;
}
