import { z } from 'zod';
import { positiveInt } from '../config-kit.js';
import { ApqConfigSchema, TrustedDocumentsConfigSchema } from '../persisted/config.js';

/**
 * The `graphql` section: the endpoint's path, production mode and what it switches, document limits,
 * batching, and (from persisted/) automatic persisted queries and trusted documents.
 */

const BatchingSchema = z
  .object({
    enabled: z
      .boolean()
      .default(false)
      .describe(
        'Accept a JSON array of operations in one POST. Off: an array body is 400 BATCHING_NOT_ENABLED. Each operation is authorized, costed and charged on its own, in order.',
      ),
    maxOperations: positiveInt
      .default(10)
      .describe('Most operations in one batch; a longer array is 400 BATCH_TOO_LARGE before any operation is parsed or charged.'),
  })
  .strict()
  .prefault({});

export const GraphqlConfigSchema = z
  .object({
    path: z.string().startsWith('/').default('/graphql').describe('Path of the GraphQL endpoint.'),
    production: z
      .boolean()
      .optional()
      .describe(
        'Production mode: the default of `graphql.introspection`, `graphql.hideSuggestions` and `graphql.maskSubgraphErrors`. Unset: on when `NODE_ENV=production`.',
      ),
    introspection: z
      .union([
        z.boolean(),
        z
          .object({
            tiers: z.array(z.string().min(1)).default([]).describe('Tiers allowed to introspect.'),
            scopes: z.array(z.string().min(1)).default([]).describe('Holders of any of these scopes may introspect.'),
          })
          .strict(),
      ])
      .optional()
      .describe(
        'Who may run introspection (`__schema`, `__type`; `__typename` is always allowed): `true` everyone, `false` no one, or `{tiers, scopes}` callers whose tier is listed or who hold one of the scopes. Others get INTROSPECTION_DISABLED before anything runs. Unset: `false` in production mode, else `true`.',
      ),
    hideSuggestions: z
      .boolean()
      .optional()
      .describe(
        'Drop "Did you mean ...?" field suggestions from validation errors (they reveal the schema). Unset: on in production mode.',
      ),
    maskSubgraphErrors: z
      .boolean()
      .optional()
      .describe(
        'Replace the message of every error that comes from a subgraph with a generic one (keeping `extensions.code` and `extensions.serviceName`); the original is logged with the request id. Unset: on in production mode.',
      ),
    maxTokens: positiveInt
      .default(1_000)
      .describe('Most lexical tokens in a GraphQL document: parsing stops there with TOO_MANY_TOKENS (400).'),
    maxDirectives: positiveInt
      .default(50)
      .describe('Most directives in a GraphQL document (all fields and fragments together): more is TOO_MANY_DIRECTIVES (400).'),
    landingPage: z.boolean().default(false).describe("Serve Apollo Sandbox to browsers on GET (loads assets from Apollo's CDN)."),
    csrfRequiredHeaders: z
      .array(z.string().min(1))
      .default(['x-apollo-operation-name', 'apollo-require-preflight', 'graphql-preflight'])
      .describe(
        'A GET request must carry one of these headers (or a non-simple content type), so a browser cannot send it cross-site without a CORS preflight.',
      ),
    batching: BatchingSchema.describe('Batched operations: a JSON array of operations in one POST.'),
    apq: ApqConfigSchema.describe('Automatic persisted queries (document registered by hash, shared through Redis when configured).'),
    trustedDocuments: TrustedDocumentsConfigSchema.describe('Trusted documents (persisted-query allow-list) from a manifest file.'),
  })
  .strict()
  .prefault({});

export type GraphqlConfig = z.output<typeof GraphqlConfigSchema>;

/** The production-mode switches of `graphql` with their unset values resolved from `graphql.production`. */
export interface ProductionSettings {
  introspection: boolean | { tiers: string[]; scopes: string[] };
  hideSuggestions: boolean;
  maskSubgraphErrors: boolean;
}

export function productionSettings(graphql: GraphqlConfig): ProductionSettings {
  const production = graphql.production ?? false;
  return {
    introspection: graphql.introspection ?? !production,
    hideSuggestions: graphql.hideSuggestions ?? production,
    maskSubgraphErrors: graphql.maskSubgraphErrors ?? production,
  };
}
