import type { Logger } from 'pino';
import type { CostConfig } from '../cost/config.js';
import type { Feature } from '../feature.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import type { RedisClient } from '../redis/client.js';
import { ApqStore } from './apq-store.js';
import type { ApqConfig, TrustedDocumentsConfig } from './config.js';
import { DocumentResolver } from './documents.js';
import { readManifest } from './manifest.js';
import { useTrustedDocuments } from './trusted-documents-plugin.js';

declare module '../feature.js' {
  interface FeatureServices {
    /** Resolves APQ hashes, document ids and the trusted-documents list before Apollo sees a request. */
    documents: DocumentResolver;
  }
}

/**
 * Documents by id: automatic persisted queries (memory or Redis) and trusted documents (an
 * Apollo persisted-query manifest, read now: a bad file stops start-up), each listed document
 * checked and costed on every supergraph load.
 */
export const persistedFeature: Feature<
  { graphql: { apq: ApqConfig; trustedDocuments: TrustedDocumentsConfig }; cost: Pick<CostConfig, 'defaultListSize'> },
  { logger: Logger; metrics: GatewayMetrics; redis: RedisClient | undefined }
> = {
  name: 'persisted',
  // Precomputes listed documents' costs with the cost model of each new schema.
  after: ['cost'],
  setup({ config, shared, services }) {
    const { metrics } = shared;
    const logger = shared.logger.child({ component: 'persisted-queries' });
    const { apq, trustedDocuments: trusted } = config.graphql;
    const manifest = trusted.manifest ? readManifest(trusted.manifest) : undefined;
    const documents = new DocumentResolver({
      apq: apq.enabled ? new ApqStore({ ...apq, redis: shared.redis, logger, metrics }) : undefined,
      manifest,
      mode: trusted.mode,
      requireId: trusted.requireId,
      bypass: trusted.bypass,
      logger,
      metrics,
    });
    if (documents.apqStore) logger.info({ store: documents.apqStore }, 'automatic persisted queries on');
    if (!manifest) return { provides: { documents } };
    logger.info({ manifest: manifest.path, documents: manifest.documents.size, mode: trusted.mode }, 'trusted documents loaded');
    const costs = services.get('costs');
    return {
      provides: { documents },
      apolloPlugins: [useTrustedDocuments({ manifest, costs, defaultListSize: config.cost.defaultListSize, logger, metrics })],
    };
  },
};
