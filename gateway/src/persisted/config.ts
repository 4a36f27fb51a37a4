import { z } from 'zod';
import { durationMs, positiveInt } from '../config-kit.js';

/** `graphql.apq` and `graphql.trustedDocuments`: registered documents by hash, and the allow-list from a manifest. */

export const ApqConfigSchema = z
  .object({
    enabled: z
      .boolean()
      .default(true)
      .describe(
        "Automatic persisted queries (Apollo's protocol): a client may send `extensions.persistedQuery.sha256Hash` instead of the document once it has registered it. Off: such requests get 400 PERSISTED_QUERY_NOT_SUPPORTED.",
      ),
    ttlSeconds: positiveInt.default(86_400).describe('How long a registered document is kept (in Redis, and in memory).'),
    cacheMaxBytes: positiveInt
      .default(8 * 1024 * 1024)
      .describe(
        'Byte limit of the in-memory store of registered documents (in front of Redis when Redis is configured, least recently used first out).',
      ),
    keyPrefix: z
      .string()
      .default('apq:')
      .describe('Prefix of registered documents in Redis, after `redis.keyPrefix`; instances with the same prefixes share registrations.'),
    storeTimeoutMs: durationMs
      .default(200)
      .describe(
        'Longest a Redis lookup may take; a slow or failed lookup is a miss (PERSISTED_QUERY_NOT_FOUND: the client sends the document again), never a failed request.',
      ),
  })
  .strict()
  .prefault({});

export const TrustedDocumentsConfigSchema = z
  .object({
    mode: z
      .enum(['off', 'allow-list', 'log-unknown'])
      .default('off')
      .describe(
        '`allow-list`: only documents in the manifest run (by `documentId`, persisted-query hash, or a full `query` whose hash is listed), others are 400 PERSISTED_QUERY_NOT_IN_LIST before parsing; `log-unknown`: everything runs, unlisted documents are logged and counted; `off`: a manifest, if given, serves its documents by id and nothing is refused or logged.',
      ),
    manifest: z
      .string()
      .min(1)
      .optional()
      .describe(
        'Persisted-query manifest file (Apollo format `apollo-persisted-query-manifest` v1; each `id` the SHA-256 of its `body`). Read at start (a malformed file or a wrong id stops start-up) and again on every config reload (one that is broken then fails the reload; the list serving stays).',
      ),
    requireId: z
      .boolean()
      .default(false)
      .describe(
        'In `allow-list` mode, refuse full `query` strings even when listed (400 PERSISTED_QUERY_ID_REQUIRED): clients must send the id.',
      ),
    bypass: z
      .object({
        tiers: z.array(z.string().min(1)).default([]).describe('Tiers whose callers may send any document in `allow-list` mode.'),
        scopes: z
          .array(z.string().min(1))
          .default([])
          .describe('Holders of any of these scopes may send any document in `allow-list` mode.'),
      })
      .strict()
      .prefault({})
      .describe('Callers exempt from the allow-list (e.g. internal tools); their unlisted documents are counted as `bypass`.'),
  })
  .strict()
  .prefault({})
  .superRefine((trusted, ctx) => {
    if (trusted.mode !== 'off' && !trusted.manifest) {
      ctx.addIssue({ code: 'custom', path: ['manifest'], message: `mode ${trusted.mode} needs a manifest file` });
    }
  });

export type ApqConfig = z.output<typeof ApqConfigSchema>;
export type TrustedDocumentsConfig = z.output<typeof TrustedDocumentsConfigSchema>;
