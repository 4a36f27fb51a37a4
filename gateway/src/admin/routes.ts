import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { CachePurger, PurgeScope } from '../cache/purge.js';
import { GatewayError } from '../errors.js';
import type { LimitSpec, LimitState } from '../rate-limit/budget.js';
import type { BudgetService } from '../rate-limit/budget-service.js';
import type { TierConfig } from '../rate-limit/config.js';
import { isEntityKey, isTypeName } from '../subgraph/cache-purge.js';
import type { SubgraphResilience } from '../subgraph/resilience.js';
import type { ConfigReloader } from '../reload/reloader.js';
import type { SupergraphState } from '../supergraph/state.js';
import type { AdminAuthenticator, AdminCaller } from './auth.js';
import type { AdminToken } from './config.js';

/** What the admin routes act on; each is absent when its capability is off. */
export interface AdminTargets {
  budget: BudgetService | undefined;
  rateLimit: { defaultTier: string; tiers: Readonly<Record<string, TierConfig>> };
  resilience: SubgraphResilience | undefined;
  purgers: readonly CachePurger[];
  supergraph: SupergraphState;
  config: ConfigReloader<unknown>;
  readiness: () => { ready: boolean; body: Record<string, unknown> };
}

/** What one admin request did, for its log line and counter (filled by the route). */
export interface AdminRecord {
  action: string;
  caller?: AdminCaller;
  detail?: Record<string, unknown>;
}

export const adminRecords = new WeakMap<FastifyRequest, AdminRecord>();

const PinBody = z.object({ state: z.enum(['open', 'closed', 'auto']) }).strict();
const PurgeBody = z
  .object({
    subgraph: z.string().min(1).optional(),
    type: z.string().refine(isTypeName, 'must be a GraphQL type name').optional(),
    key: z.string().refine(isEntityKey, 'must be name=value[,name=value...]').optional(),
  })
  .strict()
  .refine((scope) => scope.key === undefined || scope.type !== undefined, { path: ['key'], message: 'a key needs its type' });

type Handler = (request: FastifyRequest, reply: FastifyReply, record: AdminRecord) => Promise<unknown>;

/** The admin API's routes; every one needs a token (`read` for GET, `write` for the rest). */
export function registerAdminRoutes(app: FastifyInstance, auth: AdminAuthenticator, targets: AdminTargets): void {
  const route = (method: 'GET' | 'POST', url: string, action: string, handler: Handler) => {
    const needs: AdminToken['access'] = method === 'GET' ? 'read' : 'write';
    app.route({
      method,
      url,
      // Before the body is read: a caller without a valid token learns nothing about it.
      onRequest: async (request) => {
        const record: AdminRecord = { action };
        adminRecords.set(request, record);
        record.caller = auth.authenticate(request, needs);
      },
      handler: async (request, reply) => handler(request, reply, adminRecords.get(request) ?? { action }),
    });
  };

  route('GET', '/admin/clients/:id/budget', 'budget.read', async (request, _reply, record) => {
    const { budget, client, tier, limits } = budgetTarget(targets, request);
    record.detail = { client, tier };
    return { client, tier, limits: shown(await budget.store.peek(client, limits)) };
  });

  route('POST', '/admin/clients/:id/budget/reset', 'budget.reset', async (request, _reply, record) => {
    const { budget, client, tier, limits } = budgetTarget(targets, request);
    const removed = await budget.store.reset(client, limits);
    record.detail = { client, tier, keys: removed };
    return { client, tier, reset: true, limits: shown(await budget.store.peek(client, limits)) };
  });

  route('GET', '/admin/breakers', 'breakers.read', async () => {
    const resilience = needResilience(targets);
    const breakers = resilience.breakers
      .list()
      .map((breaker) => ({ name: breaker.name, ...breaker.snapshot(), pinned: breaker.pinned ?? null }))
      .sort((a, b) => a.name.localeCompare(b.name));
    return { shared: resilience.sharesPins, breakers };
  });

  route('POST', '/admin/breakers/:name', 'breakers.pin', async (request, _reply, record) => {
    const resilience = needResilience(targets);
    const { name } = request.params as { name: string };
    const { state } = parse(PinBody, request.body);
    record.detail = { breaker: name, state };
    // A declared subgraph's breaker exists once its caller is built; build it so it can be pinned before any call.
    if (!resilience.breakers.find(name) && targets.supergraph.subgraphs.some((subgraph) => subgraph.name === name)) {
      resilience.caller(name);
    }
    let found: boolean;
    try {
      found = await resilience.pinBreaker(name, state === 'auto' ? undefined : state);
    } catch {
      throw new GatewayError('BREAKER_PIN_NOT_SHARED');
    }
    if (!found) throw new GatewayError('BREAKER_NOT_FOUND');
    const breaker = resilience.breakers.find(name);
    return { name, state: breaker?.state, pinned: breaker?.pinned ?? null, shared: resilience.sharesPins };
  });

  route('POST', '/admin/cache/purge', 'cache.purge', async (request, _reply, record) => {
    const scope: PurgeScope = parse(PurgeBody, request.body ?? {});
    record.detail = { ...scope };
    if (scope.subgraph !== undefined && !targets.supergraph.subgraphs.some((subgraph) => subgraph.name === scope.subgraph)) {
      throw new GatewayError('ADMIN_INVALID_REQUEST', `subgraph: the supergraph declares no subgraph named ${scope.subgraph}`);
    }
    const purgers = targets.purgers.filter((purger) => purger.supports(scope));
    if (targets.purgers.length === 0) throw new GatewayError('ADMIN_NOT_AVAILABLE', 'No cache is configured in this gateway.');
    if (purgers.length === 0) throw new GatewayError('PURGE_SCOPE_UNSUPPORTED');
    const purged: Record<string, number> = {};
    for (const purger of purgers) purged[purger.name] = await purger.purge(scope);
    record.detail.purged = purged;
    return { scope, purged };
  });

  route('POST', '/admin/reload', 'supergraph.reload', async (_request, _reply, record) => {
    const outcome = await targets.supergraph.reload();
    if (!outcome) throw new GatewayError('ADMIN_NOT_AVAILABLE', 'The supergraph has not been loaded yet.');
    record.detail = { result: outcome.result, supergraph: outcome.id.slice(0, 12) };
    if (outcome.result === 'failed') {
      throw new GatewayError(
        'SUPERGRAPH_RELOAD_FAILED',
        `The supergraph could not be reloaded (${outcome.error}); the previous one keeps serving.`,
      );
    }
    return { result: outcome.result, supergraph: { id: outcome.id.slice(0, 12) } };
  });

  route('POST', '/admin/config/reload', 'config.reload', async (_request, _reply, record) => {
    const outcome = await targets.config.reload('admin');
    record.detail = { result: outcome.result, version: outcome.version, changed: outcome.changed };
    if (outcome.result === 'invalid') throw new GatewayError('CONFIG_RELOAD_INVALID', `The config was not reloaded: ${outcome.error}`);
    if (outcome.shuttingDown) throw new GatewayError('SHUTTING_DOWN');
    if (outcome.result === 'refused') throw new GatewayError('CONFIG_RESTART_REQUIRED', `The config was not reloaded: ${outcome.error}`);
    if (outcome.result === 'failed') throw new GatewayError('CONFIG_RELOAD_FAILED', `The config was not reloaded: ${outcome.error}`);
    return { result: outcome.result, version: outcome.version, changed: outcome.changed };
  });

  route('GET', '/admin/ready', 'ready.read', async (_request, reply) => {
    const { ready, body } = targets.readiness();
    return reply.code(ready ? 200 : 503).send(body);
  });
}

function budgetTarget(targets: AdminTargets, request: FastifyRequest) {
  const { budget, rateLimit } = targets;
  if (!budget) throw new GatewayError('ADMIN_NOT_AVAILABLE', 'Rate limiting is off in this gateway: there is no budget.');
  const { id } = request.params as { id: string };
  const query = request.query as { tier?: unknown };
  const tier = typeof query.tier === 'string' && query.tier !== '' ? query.tier : rateLimit.defaultTier;
  const config = Object.hasOwn(rateLimit.tiers, tier) ? rateLimit.tiers[tier] : undefined;
  if (!config) throw new GatewayError('ADMIN_INVALID_REQUEST', `tier: no tier named ${tier} in rateLimit.tiers`);
  return { budget, client: id, tier, limits: tierLimits(config) };
}

/** Every limit of a tier: its own, then each override's (a limit named twice is listed once). */
function tierLimits(tier: TierConfig): LimitSpec[] {
  const seen = new Set<string>();
  return [...tier.limits, ...tier.overrides.flatMap((override) => override.limits)].filter((limit) => {
    const key = `${limit.kind}:${limit.name}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Rounded as the RateLimit headers round them, so both say the same numbers. */
function shown(states: readonly LimitState[]) {
  return states.map((state) => ({
    name: state.name,
    kind: state.kind,
    limit: Math.floor(state.max),
    remaining: Math.max(0, Math.floor(state.remaining)),
    resetSeconds: Math.ceil(state.resetSeconds),
    restoreRate: state.restoreRate,
  }));
}

function needResilience(targets: AdminTargets): SubgraphResilience {
  if (!targets.resilience) throw new GatewayError('ADMIN_NOT_AVAILABLE', 'resilience.enabled is false: there are no breakers.');
  return targets.resilience;
}

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  throw new GatewayError('ADMIN_INVALID_REQUEST', `${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'invalid'}`);
}
