import { z } from 'zod';
import { AdminConfigSchema } from '../admin/config.js';
import { AuthConfigSchema } from '../auth/config.js';
import { CostConfigSchema } from '../cost/config.js';
import { GraphqlConfigSchema } from '../graphql/config.js';
import { HeadersConfigSchema, type HeaderRule } from '../headers/config.js';
import { gatewayHeaderNames, responseGuard, restRequestGuard, subgraphRequestGuard } from '../headers/guards.js';
import { ruleProblems, type HeaderGuard } from '../headers/rules.js';
import { ServerConfigSchema } from '../http/config.js';
import { LoggingConfigSchema, MetricsConfigSchema, TracingConfigSchema } from '../observability/config.js';
import { RateLimitConfigSchema } from '../rate-limit/config.js';
import { RedisConfigSchema } from '../redis/config.js';
import { ReloadConfigSchema } from '../reload/config.js';
import { routeLoadBalancing, RestConfigSchema } from '../rest/config.js';
import { ResilienceConfigSchema, subgraphSettings, SubgraphsConfigSchema } from '../subgraph/config.js';
import { ResponseCacheConfigSchema } from '../subgraph/response-cache-config.js';
import { SubscriptionsConfigSchema } from '../subscriptions/config.js';
import { SupergraphConfigSchema } from '../supergraph/config.js';

/**
 * The whole gateway configuration: one zod schema composed from the sections each feature declares
 * in its own `config.ts`, plus the rules that read more than one section (below). Unknown keys are
 * errors, so a typo is reported instead of silently ignored. The README's config table is generated
 * from this schema (`npm run docs`) and a test keeps it in sync.
 */
const SectionsSchema = z
  .object({
    server: ServerConfigSchema,
    auth: AuthConfigSchema,
    graphql: GraphqlConfigSchema,
    supergraph: SupergraphConfigSchema,
    subgraphs: SubgraphsConfigSchema,
    resilience: ResilienceConfigSchema,
    responseCache: ResponseCacheConfigSchema,
    redis: RedisConfigSchema,
    logging: LoggingConfigSchema,
    metrics: MetricsConfigSchema,
    cost: CostConfigSchema,
    rateLimit: RateLimitConfigSchema,
    rest: RestConfigSchema,
    headers: HeadersConfigSchema,
    tracing: TracingConfigSchema,
    admin: AdminConfigSchema,
    reload: ReloadConfigSchema,
    subscriptions: SubscriptionsConfigSchema,
  })
  .strict();

type Sections = z.output<typeof SectionsSchema>;

/**
 * The rules across sections: the features that need Redis have it, and replicas (two or more
 * upstreams, of REST routes and of subgraphs alike) have the resilience layer and a usable balancing.
 */
function checkAcrossSections(config: Sections, ctx: z.RefinementCtx): void {
  const hasRedis = config.redis.url !== undefined || config.redis.cluster !== undefined;
  if (config.rateLimit.store === 'redis' && !hasRedis) {
    ctx.addIssue({ code: 'custom', path: ['rateLimit', 'store'], message: 'redis needs redis.url or redis.cluster' });
  }
  if (config.resilience.sharedBreakers.enabled && !hasRedis) {
    ctx.addIssue({
      code: 'custom',
      path: ['resilience', 'sharedBreakers', 'enabled'],
      message: 'sharing breaker state needs redis.url or redis.cluster',
    });
  }
  if (config.metrics.listener === 'admin' && config.admin.port === undefined) {
    ctx.addIssue({ code: 'custom', path: ['metrics', 'listener'], message: 'admin needs the admin API: set admin.port' });
  }
  // Replicas (two or more upstreams), of REST routes and of subgraphs alike.
  const checkReplicas = (path: (string | number)[], balancing: { strategy: string; hashHeader?: string | undefined }) => {
    if (!config.resilience.enabled) {
      ctx.addIssue({
        code: 'custom',
        path: [...path, 'upstreams'],
        message: 'several replicas need resilience.enabled: true (the balancer is part of the resilience layer)',
      });
    }
    if (balancing.strategy === 'consistent_hash' && !balancing.hashHeader) {
      ctx.addIssue({ code: 'custom', path: [...path, 'loadBalancing', 'hashHeader'], message: 'consistent_hash needs a hashHeader' });
    }
  };
  config.rest.routes.forEach((route, index) => {
    if ((route.upstreams?.length ?? 0) < 2) return;
    checkReplicas(['rest', 'routes', index], routeLoadBalancing(config, route));
  });
  for (const name of Object.keys(config.subgraphs)) {
    if ((config.subgraphs[name]?.upstreams?.length ?? 0) < 2) continue;
    const balancing = subgraphSettings(config, name).loadBalancing;
    checkReplicas(['subgraphs', name], balancing);
    if (balancing.ejection.maxEjectionMs < balancing.ejection.baseEjectionMs) {
      ctx.addIssue({
        code: 'custom',
        path: ['subgraphs', name, 'loadBalancing', 'ejection', 'maxEjectionMs'],
        message: 'must be at least baseEjectionMs',
      });
    }
  }
}

/** Header rules that name a header the gateway keeps to itself (identity, request id, hop-by-hop, ...): refused with their key. */
function checkHeaderRules(config: Sections, ctx: z.RefinementCtx): void {
  const names = gatewayHeaderNames(config);
  const request = subgraphRequestGuard(names);
  const response = responseGuard(names);
  const report = (path: (string | number)[], rules: readonly HeaderRule[], guard: HeaderGuard) => {
    for (const problem of ruleProblems(rules, guard))
      ctx.addIssue({ code: 'custom', path: [...path, ...problem.path], message: problem.message });
  };
  const sets = [['headers', 'all'], ...Object.keys(config.headers.subgraphs).map((name) => ['headers', 'subgraphs', name])];
  for (const path of sets) {
    const set = path.length === 2 ? config.headers.all : config.headers.subgraphs[path[2] as string];
    if (!set) continue;
    report([...path, 'request'], set.request, request);
    report([...path, 'response'], set.response, response);
  }
  const restRequest = restRequestGuard(names);
  config.rest.routes.forEach((route, index) => {
    if (!route.headerRules) return;
    report(['rest', 'routes', index, 'headerRules', 'request'], route.headerRules.request, restRequest);
    report(['rest', 'routes', index, 'headerRules', 'response'], route.headerRules.response, response);
  });
}

export const ConfigSchema = SectionsSchema.superRefine(checkAcrossSections).superRefine(checkHeaderRules);

export type GatewayConfig = z.output<typeof ConfigSchema>;

/** What a caller may pass: any subset, defaults fill the rest. */
export type GatewayConfigInput = z.input<typeof ConfigSchema>;
