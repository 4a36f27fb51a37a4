import { adminFeature } from './admin/feature.js';
import { authFeature } from './auth/feature.js';
import { costFeature } from './cost/feature.js';
import type { Feature } from './feature.js';
import { graphqlFeature } from './graphql/feature.js';
import { introspectionFeature } from './graphql/introspection-feature.js';
import { edgeFeature } from './http/feature.js';
import { probesFeature } from './http/probes.js';
import { observabilityFeature } from './observability/feature.js';
import { persistedFeature } from './persisted/feature.js';
import { configReloadFeature } from './reload/feature.js';
import { restFeature } from './rest/feature.js';
import { subgraphsFeature } from './subgraph/feature.js';
import { subscriptionsFeature } from './subscriptions/feature.js';
import type { GatewayShared } from './shared.js';
import type { GatewayConfig } from './config/index.js';

/**
 * THE ordered list of features: the only place that knows their order. Their Fastify hooks run in
 * this order, their Apollo plugins too, and a feature's `after` is checked against it at start-up.
 *
 * - observability first: the request span starts before any other hook, and its exporter closes last;
 * - config next: its reloader reads the other features' reload hooks only when a reload runs;
 * - the edge (request id, draining, load shedding, CORS) before anything reads the request;
 * - the introspection policy, then auth: their Apollo plugins see the operation first (auth filters it);
 * - auth before everything that asks who is calling;
 * - subgraphs before cost (adaptive budgets watch their breakers) and REST (shared breakers and cache);
 * - cost before persisted (trusted documents are costed with the new cost model on each load);
 * - graphql after the services its route uses; subscriptions after graphql (its Apollo plugin answers last,
 *   once authorization and cost have admitted the operation); REST after auth, cost and subgraphs;
 * - the admin API after the services it acts on (budgets, breakers, caches); it reads the readiness
 *   fragments at request time, when every feature's is known;
 * - probes last, so that every feature's readiness and health fragment is known.
 */
export const FEATURES: readonly Feature<GatewayConfig, GatewayShared>[] = [
  observabilityFeature,
  configReloadFeature,
  edgeFeature,
  introspectionFeature,
  authFeature,
  subgraphsFeature,
  costFeature,
  persistedFeature,
  graphqlFeature,
  subscriptionsFeature,
  restFeature,
  adminFeature,
  probesFeature,
];
