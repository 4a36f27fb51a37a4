import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { Counter } from 'prom-client';
import type { CachePurger } from '../cache/purge.js';
import { responseCachePurger } from '../subgraph/cache-purge.js';
import type { Feature } from '../feature.js';
import { installErrorAnswers } from '../http/error-answers.js';
import { readinessDetail, type ProbesShared } from '../http/probes.js';
import type { MetricsConfig } from '../observability/config.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import type { RateLimitConfig } from '../rate-limit/config.js';
import type { SupergraphConfig } from '../supergraph/config.js';
import { loadAdminTokens } from './auth.js';
import type { AdminConfig } from './config.js';
import { adminRecords, registerAdminRoutes } from './routes.js';

interface AdminSections {
  responseCache: { enabled: boolean };
  admin: AdminConfig;
  metrics: Pick<MetricsConfig, 'enabled' | 'path' | 'listener'>;
  rateLimit: Pick<RateLimitConfig, 'defaultTier' | 'tiers'>;
  supergraph: Pick<SupergraphConfig, 'path'>;
}

type AdminShared = ProbesShared & { logger: Logger; metrics: GatewayMetrics };

/** No route of the admin API reads a body this large; the limit keeps a stray upload out. */
const ADMIN_BODY_LIMIT = 16 * 1024;

/**
 * The admin API: budgets, breakers, cache purges, supergraph reloads and the full readiness detail,
 * on a listener of its own (`admin.host`, default loopback; `admin.port`), never on the public
 * port. Off unless `admin.port` is set. Every call needs a bearer token (see auth.ts); each is
 * logged with the token's name and the caller's address, and counted in `gateway_admin_requests_total`.
 * The listener starts before the public one and closes with the gateway.
 */
export const adminFeature: Feature<AdminSections, AdminShared> = {
  name: 'admin',
  after: ['config', 'subgraphs', 'cost'],
  // Budgets are read with the tiers that serve now.
  reloads: ['rateLimit.tiers', 'rateLimit.defaultTier'],
  setup({ config, shared, services, contributions }) {
    if (config.admin.port === undefined) return {};
    let rateLimit = config.rateLimit;
    const logger = shared.logger.child({ component: 'admin' });
    const auth = loadAdminTokens(config.admin.tokens);
    const requests = new Counter({
      name: 'gateway_admin_requests_total',
      help: 'Admin API calls, by action and result (ok, or the error code).',
      labelNames: ['action', 'result'] as const,
      registers: [shared.metrics.registry],
    });
    const resilience = services.get('subgraphResilience');
    const purgers: CachePurger[] = resilience ? [resilience.fallbackPurger] : [];
    // The response cache keeps its entries in the same store, by entity: it purges by type and key too.
    if (resilience && config.responseCache.enabled) purgers.push(responseCachePurger(resilience.cache));
    let app: FastifyInstance | undefined;

    const build = () => {
      const admin = Fastify({
        // The error answers log a 500's cause through the request's logger; the "admin action" line is written below.
        loggerInstance: logger as FastifyBaseLogger,
        logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'reqId' }),
        bodyLimit: ADMIN_BODY_LIMIT,
        genReqId: () => randomUUID(),
      });
      installErrorAnswers(admin, '\0');
      admin.addHook('onResponse', async (request, reply) => {
        const record = adminRecords.get(request);
        if (!record) return;
        const result = reply.statusCode < 400 ? 'ok' : String(reply.statusCode);
        requests.inc({ action: record.action, result });
        const line = {
          action: record.action,
          by: record.caller?.token ?? null,
          ip: request.ip,
          status: reply.statusCode,
          ...record.detail,
        };
        if (record.action.endsWith('.read') && reply.statusCode < 400) logger.debug(line, 'admin action');
        else logger.info(line, 'admin action');
      });
      registerAdminRoutes(admin, auth, {
        budget: services.get('budget'),
        get rateLimit() {
          return rateLimit;
        },
        resilience,
        purgers,
        supergraph: shared.supergraph,
        config: services.get('configReload'),
        readiness: () => readinessDetail(shared, config, contributions),
      });
      if (config.metrics.enabled && config.metrics.listener === 'admin') {
        admin.get(config.metrics.path, async (_request, reply) => {
          reply.type(shared.metrics.registry.contentType);
          return shared.metrics.registry.metrics();
        });
      }
      return admin;
    };

    return {
      async beforeListen() {
        if (app) return;
        app = build();
        await app.listen({ host: config.admin.host, port: config.admin.port });
        const address = app.server.address() as AddressInfo;
        const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
        logger.info(
          { url: `http://${host}:${address.port}`, tokens: config.admin.tokens.map((token) => token.name) },
          'admin API listening',
        );
      },
      async close() {
        await app?.close();
      },
      prepareReload: ({ next }) => ({ commit: () => void (rateLimit = next.rateLimit) }),
    };
  },
};
