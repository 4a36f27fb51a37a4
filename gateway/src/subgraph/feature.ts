import type { GraphQLDataSource, ServiceEndpointDefinition } from '@apollo/gateway';
import type { Logger } from 'pino';
import type { AuthConfig } from '../auth/config.js';
import type { HeadersConfig } from '../headers/config.js';
import type { ServerConfig } from '../http/config.js';
import type { RateLimitConfig } from '../rate-limit/config.js';
import { configuredSubgraphUrl, type SubgraphCallSections } from './config.js';
import { requestState } from '../context.js';
import type { Feature } from '../feature.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import type { DegradationSignals } from '../rate-limit/adaptive.js';
import type { RedisClient } from '../redis/client.js';
import type { SupergraphState } from '../supergraph/state.js';
import { SubgraphDataSource } from './data-source.js';
import { useFallbackReport } from './fallback-report-plugin.js';
import { createSubgraphFetch } from './fetch.js';
import { subgraphHeaderRules, type SubgraphHeaderRules } from './header-rules.js';
import { SubgraphHealthBook } from './health.js';
import { SubgraphLatencies } from './latency.js';
import { createSubgraphResilience, loadStaticFallbackFiles, type SubgraphResilience } from './resilience.js';
import './state.js';

declare module '../feature.js' {
  interface FeatureServices {
    /** Builds the data source of one subgraph: Apollo's `buildService`. */
    buildSubgraphService: (definition: ServiceEndpointDefinition) => GraphQLDataSource;
    /** Breakers, replica pools and the fallback cache; undefined when `resilience.enabled` is false. */
    subgraphResilience: SubgraphResilience | undefined;
    /** The subgraphs' breaker states and latencies, for adaptive budgets; undefined without resilience. */
    subgraphSignals: DegradationSignals | undefined;
    /** The `headers` rules for subgraph calls, also applied to subscriptions' upstream connections. */
    subgraphHeaderRules: SubgraphHeaderRules;
  }
}

type SubgraphsConfig = SubgraphCallSections & {
  rateLimit: Pick<RateLimitConfig, 'adaptive'>;
  server: Pick<ServerConfig, 'requestIdHeader'>;
  auth: Pick<AuthConfig, 'propagation' | 'apiKeys'>;
  headers: HeadersConfig;
};

interface SubgraphsShared {
  logger: Logger;
  metrics: GatewayMetrics;
  redis: RedisClient | undefined;
  instanceId: string;
  supergraph: SupergraphState;
}

/**
 * Subgraph calls: one data source per subgraph on a shared undici pool, with timeouts, retries,
 * breakers or replica pools, dedupe and fallbacks (`resilience`), and what they tell readiness,
 * adaptive budgets and the client (`extensions.fallbacks`).
 */
export const subgraphsFeature: Feature<SubgraphsConfig, SubgraphsShared> = {
  name: 'subgraphs',
  reloads: [
    'headers',
    // What each call reads when it starts (connections, bulkheads, caches and stale-if-slow are built once).
    ...['resilience.subgraphDefaults', 'subgraphs.*'].flatMap((at) =>
      ['timeoutMs', 'retry', 'breaker', 'fallback.cacheTtlMs'].map((key) => `${at}.${key}`),
    ),
  ],
  setup({ config, shared }) {
    const { logger, metrics } = shared;
    // The static fallback files are read now: a broken one stops start-up, not an outage.
    const statics = config.resilience.enabled ? loadStaticFallbackFiles(config) : undefined;
    const health = new SubgraphHealthBook();
    const subgraphFetch = createSubgraphFetch();
    const resilience = config.resilience.enabled
      ? createSubgraphResilience({
          config: config,
          redis: shared.redis,
          instanceId: shared.instanceId,
          metrics,
          logger: logger.child({ component: 'subgraph' }),
          statics,
          supergraphSdl: () => shared.supergraph.loaded?.sdl,
        })
      : undefined;
    // Only adaptive budgets read latencies; without them nothing is recorded.
    const latencies = config.rateLimit.adaptive.enabled ? new SubgraphLatencies() : undefined;
    const headerRules = subgraphHeaderRules(config);
    const buildSubgraphService = ({ name, url }: ServiceEndpointDefinition) =>
      new SubgraphDataSource({
        name,
        // With replicas, the resilience layer picks each call's URL; Apollo is handed the first one.
        url: configuredSubgraphUrl(config, name) ?? url ?? '',
        fetcher: subgraphFetch.fetcher,
        requestIdHeader: config.server.requestIdHeader,
        principalHeaders: config.auth.propagation,
        metrics,
        health,
        latencies,
        headerRules: (state) => headerRules.of(name, state),
        logger: logger.child({ component: 'subgraph' }),
        resilience: resilience && { caller: resilience.caller(name), requestDeadlineMs: config.resilience.requestDeadlineMs },
      });
    const signals: DegradationSignals | undefined = resilience && {
      // Combined over a replicated subgraph's replicas: degraded once all of them are out.
      breakerState: (name) => resilience.breakerState(name),
      latencyP95: (name, windowMs, minSamples) => latencies?.p95(name, windowMs, minSamples),
    };
    const replicasOf = (name: string) => {
      const replicas = resilience?.replicas(name);
      return replicas ? { replicas, replicasAvailable: resilience?.replicasAvailable(name) } : {};
    };
    return {
      provides: { buildSubgraphService, subgraphResilience: resilience, subgraphSignals: signals, subgraphHeaderRules: headerRules },
      register: (app) => headerRules.register(app),
      apolloPlugins: [useFallbackReport()],
      readiness: () => ({
        subgraphs: shared.supergraph.subgraphs.map(({ name, url }) => ({
          name,
          url: configuredSubgraphUrl(config, name) ?? url,
          ...health.get(name),
          breaker: resilience?.snapshot(name) ?? null,
          // Information, not a verdict: a subgraph with no replica in rotation leaves the gateway ready
          // (it still serves other subgraphs, partial results and fallbacks), as a failing single URL does.
          ...replicasOf(name),
        })),
      }),
      // Liveness: the breaker summary is information, not a verdict.
      health: () => {
        if (!resilience || !shared.supergraph.loaded) return {};
        const subgraphs = Object.fromEntries(
          shared.supergraph.subgraphs.flatMap(({ name }) => {
            const snapshot = resilience.snapshot(name);
            return snapshot ? [[name, { breaker: snapshot.state, errorRate: snapshot.errorRate }]] : [];
          }),
        );
        return { subgraphs };
      },
      describe(request) {
        const used = requestState(request).fallbacks;
        if (!used?.length) return undefined;
        return { span: { 'gateway.fallback.sources': [...new Set(used.map((use) => use.source))] } };
      },
      prepareReload({ next }) {
        const rules = headerRules.prepare(next);
        const calls = resilience?.prepare(next);
        return {
          commit() {
            rules.commit();
            calls?.commit();
          },
        };
      },
      async close() {
        await subgraphFetch.close().catch(() => undefined);
        await resilience?.close();
      },
    };
  },
};
