import { createRequire } from 'node:module';
import type { Logger } from 'pino';
import { computeResponse, type ComputeResponseInput, type ComputeResponseOutput } from './result-shaping.js';

const require = createRequire(import.meta.url);

type ComputeResponse = (input: ComputeResponseInput) => ComputeResponseOutput;

/**
 * The `@apollo/gateway` versions (major.minor) whose `computeResponse` the gateway's result shaping
 * was checked against, value for value and error for error (test/result-shaping.test.ts runs both on
 * the installed version, in CI). Another version keeps Apollo's own.
 */
export const CHECKED_APOLLO_GATEWAY = '2.14';

/** Which result shaping serves responses: the gateway's (result-shaping.ts) or Apollo's. */
export type ResultShaping = 'gateway' | 'apollo';

interface ResultShapingModule {
  computeResponse: ComputeResponse;
}

let apollos: ComputeResponse | undefined;
let installed: ResultShaping | undefined;

function apolloGatewayVersion(): string {
  return (require('@apollo/gateway/package.json') as { version: string }).version;
}

/**
 * Makes `@apollo/gateway`'s executor shape responses with the gateway's `computeResponse`. Apollo's
 * executor (`executeQueryPlan.js`) reads `computeResponse` from its `resultShaping` module at every
 * call, so replacing that module's export takes effect for every request from then on, whenever it
 * is done. This is the one place where the gateway puts its own code inside Apollo's: the profile
 * showed Apollo's shaping and its garbage as the largest cost of a cross-subgraph request (see
 * docs/performance.md), and it is a pure function of its arguments, so the port is checked against
 * the original on every install. Idempotent; returns which shaping is in use.
 */
export function installResultShaping(logger: Logger): ResultShaping {
  if (installed) return installed;
  const version = apolloGatewayVersion();
  const module = require('@apollo/gateway/dist/resultShaping.js') as Partial<ResultShapingModule>;
  if (!version.startsWith(`${CHECKED_APOLLO_GATEWAY}.`) || typeof module.computeResponse !== 'function') {
    logger.warn(
      { apolloGateway: version, checked: CHECKED_APOLLO_GATEWAY },
      "@apollo/gateway is not a version the gateway's result shaping was checked against: Apollo's own shapes responses",
    );
    installed = 'apollo';
    return installed;
  }
  apollos = module.computeResponse;
  module.computeResponse = computeResponse;
  installed = 'gateway';
  return installed;
}

/** Apollo's own `computeResponse`, as it was before `installResultShaping()` (for the test that compares the two). */
export function apolloComputeResponse(): ComputeResponse {
  return apollos ?? (require('@apollo/gateway/dist/resultShaping.js') as ResultShapingModule).computeResponse;
}
