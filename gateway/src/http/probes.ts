import type { SupergraphConfig } from '../supergraph/config.js';
import type { Feature, FeatureContributions, GatewayPhase } from '../feature.js';
import type { RedisClient } from '../redis/client.js';
import type { SupergraphState } from '../supergraph/state.js';

export interface ProbesShared {
  phase: () => GatewayPhase;
  instanceId: string;
  redis: RedisClient | undefined;
  supergraph: SupergraphState;
}

/**
 * Liveness (`/health`: 200 while the process runs) and readiness (`/ready`: 200 once the supergraph
 * is loaded and until draining starts), each with what the other features report. Last in the list,
 * so that every feature's fragment is known.
 */
export const probesFeature: Feature<{ supergraph: Pick<SupergraphConfig, 'path'>; server: { readinessDetail: boolean } }, ProbesShared> = {
  name: 'probes',
  setup({ config, shared, contributions }) {
    const detail = config.server.readinessDetail;
    return {
      register(app) {
        app.get('/health', { config: { probe: true } }, async () => {
          const body: Record<string, unknown> = { status: 'ok' };
          // Breaker states name the subgraphs: only with server.readinessDetail (an operator's switch).
          if (!detail) return body;
          for (const fragment of contributions.health) Object.assign(body, fragment());
          return body;
        });
        app.get('/ready', { config: { probe: true } }, async (_request, reply) => {
          // On the public port, the status only: subgraph URLs, the instance and breakers are for operators
          // (the admin API's /admin/ready has them, or server.readinessDetail here).
          if (!detail) {
            const phase = shared.phase();
            const ready = phase === 'ready';
            return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', phase });
          }
          const { ready, body } = readinessDetail(shared, config, contributions);
          return reply.code(ready ? 200 : 503).send(body);
        });
      },
    };
  },
};

/**
 * The whole readiness answer: the phase, the supergraph, every feature's fragment and Redis. The
 * admin API's `/admin/ready` answers it too.
 */
export function readinessDetail(
  shared: ProbesShared,
  config: { supergraph: Pick<SupergraphConfig, 'path'> },
  contributions: Pick<FeatureContributions, 'readiness'>,
): { ready: boolean; body: Record<string, unknown> } {
  const phase = shared.phase();
  const ready = phase === 'ready';
  const loaded = shared.supergraph.loaded;
  const body: Record<string, unknown> = {
    status: ready ? 'ready' : 'not_ready',
    phase,
    instance: shared.instanceId,
    supergraph: loaded
      ? {
          id: loaded.id.slice(0, 12),
          loadedAt: loaded.loadedAt.toISOString(),
          ...(shared.supergraph.source?.kind === 'file' ? { path: config.supergraph.path } : {}),
          source: shared.supergraph.source,
        }
      : null,
  };
  for (const fragment of contributions.readiness) Object.assign(body, fragment());
  body.redis = shared.redis ? { status: shared.redis.status } : { status: 'not_configured' };
  return { ready, body };
}
