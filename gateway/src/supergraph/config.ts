import { z } from 'zod';
import { durationMs, positiveInt } from '../config-kit.js';

/** Apollo's own Uplink endpoints, tried in this order (as @apollo/gateway and Apollo Router do). */
export const APOLLO_UPLINK_ENDPOINTS = ['https://uplink.api.apollographql.com/', 'https://aws.uplink.api.apollographql.com/'];

const httpUrl = z
  .string()
  .url()
  .refine((value) => /^https?:\/\//i.test(value), { message: 'must be an http:// or https:// URL' });

const SecretHeaderSchema = z
  .object({
    name: z
      .string()
      .regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/)
      .default('Authorization')
      .describe('Header sent with every fetch, e.g. `Authorization` or `X-Hive-CDN-Key`.'),
    env: z.string().min(1).optional().describe('Environment variable holding the header value (e.g. `Bearer …`).'),
    file: z.string().min(1).optional().describe('File holding the header value (a mounted secret); surrounding blanks are ignored.'),
  })
  .strict()
  .refine((header) => (header.env === undefined) !== (header.file === undefined), { message: 'give exactly one of env and file' });

const UrlSourceSchema = z
  .object({
    url: httpUrl.describe('Where the supergraph SDL is fetched with GET (an object store, a CDN such as Hive `…/supergraph`).'),
    pollIntervalMs: durationMs.default(10_000).describe('How often the URL is asked whether the supergraph changed.'),
    timeoutMs: durationMs.default(10_000).describe('Time allowed for one fetch, body included.'),
    authHeader: SecretHeaderSchema.optional().describe('A header carrying a secret, sent with every fetch.'),
  })
  .strict();

const UplinkSourceSchema = z
  .object({
    graphRef: z
      .string()
      .regex(/^[^@\s]+(@[^@\s]+)?$/)
      .optional()
      .describe('Graph ref `graph-id@variant`; unset: the `APOLLO_GRAPH_REF` environment variable.'),
    apiKeyEnv: z.string().min(1).default('APOLLO_KEY').describe('Environment variable holding the graph API key.'),
    endpoints: z
      .array(httpUrl)
      .min(1)
      .default(APOLLO_UPLINK_ENDPOINTS)
      .describe('Uplink endpoints; a fetch tries them in turn until one answers, starting with the one that answered last.'),
    pollIntervalMs: durationMs
      .default(10_000)
      .describe('How often Uplink is asked for a newer supergraph; a longer `minDelaySeconds` from Uplink wins.'),
    timeoutMs: durationMs.default(30_000).describe('Time allowed for one request to one endpoint.'),
  })
  .strict()
  .prefault({});

/** The `supergraph` section: where the served SDL comes from, and how its changes are picked up. */
export const SupergraphConfigSchema = z
  .object({
    source: z
      .enum(['file', 'url', 'uplink'])
      .default('file')
      .describe('Where the supergraph comes from: `file` (`path`), `url` (`url.*`, any HTTP server or CDN) or `uplink` (Apollo GraphOS).'),
    path: z
      .string()
      .min(1)
      .default('schema/supergraph.graphql')
      .describe('Supergraph SDL file to serve with the `file` source (relative to the working directory).'),
    watch: z.boolean().default(true).describe('`file` source: reload the supergraph when the file changes.'),
    pollIntervalMs: durationMs
      .default(1_000)
      .describe('`file` source: how often the file is checked for changes (polling survives atomic renames and symlink swaps).'),
    url: UrlSourceSchema.optional().describe('The `url` source.'),
    uplink: UplinkSourceSchema.describe('The `uplink` source (Apollo GraphOS managed federation).'),
    maxBytes: positiveInt
      .default(64 * 1024 * 1024)
      .describe('`url` and `uplink` sources: the largest answer accepted (bytes); a larger one is a failed fetch.'),
    cacheFile: z
      .string()
      .min(1)
      .optional()
      .describe(
        '`url` and `uplink` sources: the last good supergraph is written here (atomically) after each load, and served at ' +
          'start when the source is unreachable. Unset: no copy, and the gateway cannot start while its source is down.',
      ),
  })
  .strict()
  .refine((supergraph) => supergraph.source !== 'url' || supergraph.url !== undefined, {
    path: ['url'],
    message: 'the url source needs supergraph.url.url',
  })
  .prefault({});

export type SupergraphConfig = z.output<typeof SupergraphConfigSchema>;
export type UrlSourceConfig = z.output<typeof UrlSourceSchema>;
export type UplinkSourceConfig = z.output<typeof UplinkSourceSchema>;
