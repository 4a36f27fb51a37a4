import type { FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import { hasScopes } from '../auth/principal.js';
import type { RateLimitConfig } from '../rate-limit/config.js';
import { routeName, type RestRouteConfig } from './config.js';
import type { RouteRuntime } from './handler.js';
import { hostName, type MatchInput, type Selection } from './match.js';
import { requestState } from '../context.js';
import type { RestRequestInfo } from './state.js';
import { GatewayError } from '../errors.js';
import type { BudgetService } from '../rate-limit/budget-service.js';
import { bindingLimit } from '../rate-limit/headers.js';
import { resolvePolicy } from '../rate-limit/policy.js';
import type { BodyLimits } from './body-limit.js';
import { routeTarget, splitTarget } from './path.js';
import { mergeLimitHeaders } from './route-limit.js';
import { answerPreflight, applyCors, preflightMethod } from './cors.js';

/** The matched route of a request (set by {@link selectRoute}, read by the hooks after it and the handler). */
export type RouteOf = (request: FastifyRequest) => RestRouteConfig;

/**
 * The passthrough's first hook: chooses the route (the gateway's not-found answer when none matches, 405 with `Allow` when
 * routes match all but the method), then path safety (400, see path.ts) and the declared body size
 * (413). Records the route, the upstream target for the handler and the body limit for the body parser.
 */
export function selectRoute(
  select: (method: string, input: MatchInput, request: FastifyRequest) => Selection<RouteRuntime>,
  selections: WeakMap<FastifyRequest, RouteRuntime>,
  bodyLimits: BodyLimits,
  /** Whether the gateway-wide CORS hook already answered for this request (then the route's own policy is not applied). */
  gatewayCorsRan: (request: FastifyRequest) => boolean = () => false,
): onRequestAsyncHookHandler {
  return async (request, reply) => {
    const { path, query } = splitTarget(request.raw.url ?? request.url);
    const input: MatchInput = { host: hostName(request.host), rawPath: path, rawQuery: query.slice(1), headers: request.headers };
    const ownCors = !gatewayCorsRan(request);
    // A preflight is matched as the request it announces; a route with a CORS policy answers it here.
    const announced = ownCors ? preflightMethod(request) : undefined;
    const preflight = announced === undefined ? undefined : select(announced, input, request);
    if (preflight && 'route' in preflight && preflight.route.cors) {
      requestState(request).rest = { route: preflight.route.name, attempts: 0 };
      return answerPreflight(preflight.route.cors, request, reply);
    }
    const selection = select(request.method, input, request);
    // The passthrough takes every path: one no route matches is answered as any unknown path is.
    if (!selection) return reply.callNotFound();
    if ('allow' in selection) throw new GatewayError('METHOD_NOT_ALLOWED', undefined, { allow: selection.allow.join(', ') });
    const runtime = selection.route;
    const route = runtime.route;
    const info: RestRequestInfo = { route: routeName(route), attempts: 0 };
    requestState(request).rest = info;
    selections.set(request, runtime);
    if (runtime.cors && ownCors) applyCors(runtime.cors, request, reply);
    const mapped = routeTarget(route, path, selection.params);
    if (!mapped.ok) {
      info.failure = `path refused: ${mapped.reason}`;
      throw new GatewayError('INVALID_PATH');
    }
    runtime.targets.set(request, mapped.path + query);
    runtime.params.set(request, selection.params);
    if (route.maxBodyBytes !== undefined) {
      // The body is left unread: the connection cannot serve another request, so it is closed.
      if (Number(request.headers['content-length'] ?? 0) > route.maxBodyBytes)
        throw new GatewayError('PAYLOAD_TOO_LARGE', undefined, { connection: 'close' });
      bodyLimits.set(request, route.maxBodyBytes);
    }
  };
}

/** After the gateway's authentication: the route's own rule (401 without a caller when required, 403 without its scopes). */
export function authorize(routeOf: RouteOf, realm: string): onRequestAsyncHookHandler {
  return async (request) => {
    const route = routeOf(request);
    const principal = requestState(request).principal;
    if (route.auth.mode === 'required' && (!principal || principal.kind === 'anonymous')) {
      throw new GatewayError('UNAUTHENTICATED', undefined, { 'www-authenticate': `Bearer realm="${realm}"` });
    }
    const scopes = route.auth.scopes;
    if (scopes.length > 0 && !hasScopes(principal, [scopes])) {
      throw new GatewayError('FORBIDDEN', `This route needs the scope${scopes.length > 1 ? 's' : ''} ${scopes.join(' ')}.`, {
        'www-authenticate': `Bearer realm="${realm}", error="insufficient_scope", scope="${scopes.join(' ')}"`,
      });
    }
  };
}

/** Charges the route's cost to the caller's budget, shared with GraphQL (429 when spent, 503 when the budget store is down). */
export function charge(
  routeOf: RouteOf,
  rateLimitOf: (request: FastifyRequest) => Pick<RateLimitConfig, 'tiers' | 'defaultTier'>,
  budget: BudgetService | undefined,
): onRequestAsyncHookHandler {
  return async (request, reply) => {
    const route = routeOf(request);
    const principal = requestState(request).principal;
    if (!budget || route.cost === 0 || !principal) return;
    const { tiers, defaultTier } = rateLimitOf(request);
    const policy = resolvePolicy(tiers, defaultTier, principal.tier, { rootFields: [] });
    const outcome = await budget.charge({ clientKey: principal.clientKey, tier: policy.tier }, route.cost, policy.limits);
    requestState(request).rateLimit = {
      result: outcome.result,
      remaining: outcome.result === 'unavailable' ? undefined : bindingLimit(outcome.limits)?.remaining,
    };
    if (outcome.result === 'limited') throw new GatewayError('RATE_LIMITED', undefined, outcome.headers);
    if (outcome.result === 'unavailable') throw new GatewayError('RATE_LIMIT_UNAVAILABLE', undefined, { 'retry-after': '1' });
    mergeLimitHeaders(reply, outcome.headers);
  };
}
