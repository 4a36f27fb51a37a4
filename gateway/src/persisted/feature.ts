import type { Logger } from 'pino';
import type { CostConfig } from '../cost/config.js';
import type { Feature } from '../feature.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import type { RedisClient } from '../redis/client.js';
import { ApqStore } from './apq-store.js';
import type { ApqConfig, TrustedDocumentsConfig } from './config.js';
import { DocumentResolver } from './documents.js';
import { readManifest, type TrustedManifest } from './manifest.js';
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
  reloads: ['graphql.trustedDocuments'],
  reloadEvery: true,
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
    if (manifest)
      logger.info({ manifest: manifest.path, documents: manifest.documents.size, mode: trusted.mode }, 'trusted documents loaded');
    const costs = services.get('costs');
    // Registered without a manifest too: a reload may name one.
    const checker = useTrustedDocuments({ manifest, costs, defaultListSize: config.cost.defaultListSize, logger, metrics });
    let served = { settings: trusted, manifest };
    return {
      provides: { documents },
      apolloPlugins: [checker],
      // The manifest file is read again on every reload, changed in the config or not: a new list
      // of documents is a reload of the same config. A file that cannot be read or is not a valid
      // manifest fails the reload; the list serving now stays.
      prepareReload({ next }) {
        const settings = next.graphql.trustedDocuments;
        const nextManifest = settings.manifest ? readManifest(settings.manifest) : undefined;
        if (sameSettings(served.settings, settings) && sameDocuments(served.manifest, nextManifest)) return undefined;
        return {
          commit() {
            served = { settings, manifest: nextManifest };
            documents.setTrusted({ manifest: nextManifest, mode: settings.mode, requireId: settings.requireId, bypass: settings.bypass });
            checker.setManifest(nextManifest);
            logger.info(
              { manifest: nextManifest?.path ?? null, documents: nextManifest?.documents.size ?? 0, mode: settings.mode },
              'trusted documents reloaded',
            );
          },
        };
      },
    };
  },
};

function sameSettings(a: TrustedDocumentsConfig, b: TrustedDocumentsConfig): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function sameDocuments(a: TrustedManifest | undefined, b: TrustedManifest | undefined): boolean {
  if (!a || !b) return a === b;
  return a.path === b.path && a.documents.size === b.documents.size && [...a.documents.keys()].every((id) => b.documents.has(id));
}
