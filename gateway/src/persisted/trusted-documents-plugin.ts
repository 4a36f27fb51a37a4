import type { ApolloServerPlugin } from '@apollo/server';
import { Kind, parse, specifiedRules, validate, type GraphQLSchema } from 'graphql';
import type { Logger } from 'pino';
import type { GatewayContext } from '../context.js';
import { estimateCost } from '../cost/estimate.js';
import type { CostModelSource } from '../cost/model-source.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import type { TrustedManifest } from './manifest.js';

export interface TrustedDocumentsOptions {
  /** The manifest; undefined: none yet (a config reload may name one). */
  manifest: TrustedManifest | undefined;
  /** The cost model source, to precompute each document's estimate; undefined: cost analysis is off. @default undefined */
  costs?: CostModelSource | undefined;
  /** Size of a list with no `@listSize` information (as the cost plugin). @default 10 */
  defaultListSize?: number;
  logger: Logger;
  metrics?: GatewayMetrics | undefined;
}

/** What one supergraph load found in the manifest. */
export interface TrustedDocumentsReport {
  valid: number;
  invalid: { id: string; name: string; error: string }[];
  /** Documents whose estimate went into the cost cache. */
  precomputed: number;
}

/**
 * Checks the trusted documents against every schema the gateway loads (start and hot reload) and
 * precomputes their cost: each body is parsed and validated once, and its estimate for "no
 * variables" goes into the cost plugin's estimate cache under the document's hash (= Apollo's
 * query hash), so a request for a listed document is costed by a cache hit. Variables that change
 * the cost (slicing arguments, weighted arguments, `@skip`/`@include`) are part of that cache's key:
 * a request that sets them differently is estimated once for those values, then cached too.
 *
 * A document that does not validate is logged (`warn`, with its id, name and the first error) and
 * counted in `gateway_trusted_documents{state="invalid"}`, not refused: the manifest and the
 * supergraph are deployed separately, and a client release may list an operation one supergraph
 * release early. Requests for it get the usual validation error.
 *
 * Must come after `useCostAndBudget` in the plugin list: the cost model of the new schema must be
 * loaded first.
 */
export function useTrustedDocuments(options: TrustedDocumentsOptions): ApolloServerPlugin<GatewayContext> & {
  /** Replaces the manifest (a config reload) and checks it against the schema serving now, if one is loaded. */
  setManifest(manifest: TrustedManifest | undefined): void;
} {
  const { costs, logger, metrics } = options;
  let manifest = options.manifest;
  let schema: GraphQLSchema | undefined;
  const defaultListSize = options.defaultListSize ?? 10;
  const check = () => {
    if (!manifest || !schema) return;
    const report = checkDocuments(manifest, schema, costs, defaultListSize);
    metrics?.trustedDocuments.set({ state: 'valid' }, report.valid);
    metrics?.trustedDocuments.set({ state: 'invalid' }, report.invalid.length);
    for (const entry of report.invalid) {
      logger.warn({ documentId: entry.id, name: entry.name, err: entry.error }, 'trusted document is not valid against the loaded schema');
    }
    logger.info(
      { manifest: manifest.path, documents: manifest.documents.size, invalid: report.invalid.length, precomputed: report.precomputed },
      'trusted documents checked against the schema',
    );
  };
  return {
    async serverWillStart() {
      return {
        schemaDidLoadOrUpdate({ apiSchema }) {
          schema = apiSchema;
          check();
        },
      };
    },
    setManifest(next) {
      manifest = next;
      if (!next) {
        metrics?.trustedDocuments.set({ state: 'valid' }, 0);
        metrics?.trustedDocuments.set({ state: 'invalid' }, 0);
      }
      check();
    },
  };
}

export function checkDocuments(
  manifest: TrustedManifest,
  schema: GraphQLSchema,
  costs: CostModelSource | undefined,
  defaultListSize: number,
): TrustedDocumentsReport {
  const report: TrustedDocumentsReport = { valid: 0, invalid: [], precomputed: 0 };
  const analyzer = costs?.analyzer(schema);
  for (const entry of manifest.documents.values()) {
    let document;
    try {
      document = parse(entry.body);
    } catch (error) {
      report.invalid.push({ id: entry.id, name: entry.name, error: (error as Error).message });
      continue;
    }
    const errors = validate(schema, document, specifiedRules);
    if (errors.length > 0) {
      report.invalid.push({ id: entry.id, name: entry.name, error: errors[0]?.message ?? 'invalid' });
      continue;
    }
    report.valid++;
    if (!analyzer) continue;
    const operations = document.definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION);
    // Warm the keys the cost plugin will ask for: with the operation's name, and without one when
    // the document has a single operation (clients may leave `operationName` out).
    const names = operations.flatMap((operation) => (operation.name ? [operation.name.value] : []));
    if (operations.length === 1) names.push('');
    try {
      for (const name of names) {
        analyzer.cache.get(entry.id, document, name || undefined, {}, () =>
          estimateCost(analyzer.schema, analyzer.model, document, { operationName: name || undefined, variables: {}, defaultListSize }),
        );
      }
      report.precomputed++;
    } catch {
      // An operation that needs variables to be costed (e.g. a required slicing argument) is costed per request.
    }
  }
  return report;
}
