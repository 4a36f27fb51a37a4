import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

/**
 * The whole gateway configuration: one zod schema, every default in this file.
 *
 * Sources, later wins: defaults → YAML file (`--config FILE` or `GATEWAY_CONFIG`) → environment
 * variables listed in {@link ENV_OVERRIDES} → `SUBGRAPH_<NAME>_URL`. Unknown keys are errors, so a
 * typo is reported instead of silently ignored. The README's config table is generated from this
 * schema (`npm run docs`) and a test keeps it in sync.
 */

const port = z.number().int().min(0).max(65_535);
const positiveInt = z.number().int().positive();

const ServerSchema = z
  .object({
    host: z.string().min(1).default('0.0.0.0').describe('Listen address.'),
    port: port.default(4000).describe('Listen port (0 picks a free port).'),
    bodyLimitBytes: positiveInt
      .default(1_048_576)
      .describe('Largest request body accepted; larger bodies get 413 PAYLOAD_TOO_LARGE.'),
    shutdownTimeoutMs: positiveInt
      .default(10_000)
      .describe('On SIGTERM/SIGINT, how long in-flight requests may take before connections are cut.'),
    requestIdHeader: z
      .string()
      .min(1)
      .default('x-request-id')
      .describe('Header that carries the request id in, out, and on to subgraphs.'),
  })
  .strict()
  .prefault({});

const GraphqlSchema = z
  .object({
    path: z.string().startsWith('/').default('/graphql').describe('Path of the GraphQL endpoint.'),
    introspection: z.boolean().default(true).describe('Allow introspection queries.'),
    landingPage: z
      .boolean()
      .default(false)
      .describe('Serve Apollo Sandbox to browsers on GET (loads assets from Apollo\'s CDN).'),
    csrfRequiredHeaders: z
      .array(z.string().min(1))
      .default(['x-apollo-operation-name', 'apollo-require-preflight', 'graphql-preflight'])
      .describe(
        'A GET request must carry one of these headers (or a non-simple content type), so a browser cannot send it cross-site without a CORS preflight.',
      ),
  })
  .strict()
  .prefault({});

const SupergraphSchema = z
  .object({
    path: z
      .string()
      .min(1)
      .default('schema/supergraph.graphql')
      .describe('Supergraph SDL file to serve (relative to the working directory).'),
    watch: z.boolean().default(true).describe('Reload the supergraph when the file changes.'),
    pollIntervalMs: positiveInt
      .default(1_000)
      .describe('How often the file is checked for changes (polling survives atomic renames and symlink swaps).'),
  })
  .strict()
  .prefault({});

const SubgraphSchema = z
  .object({
    url: z.url().describe('Overrides the URL the supergraph gives for this subgraph.'),
  })
  .strict();

const RedisSchema = z
  .object({
    url: z
      .string()
      .regex(/^rediss?:\/\//, 'must start with redis:// or rediss://')
      .optional()
      .describe('Redis URL. Unset: the gateway runs on its in-memory store.'),
    connectTimeoutMs: positiveInt.default(2_000).describe('Timeout of one connection attempt.'),
    keyPrefix: z.string().default('gw:').describe('Prefix of every key the gateway writes.'),
  })
  .strict()
  .prefault({});

const LoggingSchema = z
  .object({
    level: z
      .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
      .default('info')
      .describe('pino log level. Health, readiness and metrics requests log at debug.'),
  })
  .strict()
  .prefault({});

const MetricsSchema = z
  .object({
    enabled: z.boolean().default(true).describe('Serve Prometheus metrics.'),
    path: z.string().startsWith('/').default('/metrics').describe('Path of the metrics endpoint.'),
    maxOperationLabels: positiveInt
      .default(200)
      .describe(
        'Distinct operation names kept as metric labels; later names are counted as `__other__` so clients cannot explode label cardinality.',
      ),
    defaultMetrics: z.boolean().default(true).describe('Export Node.js process metrics (CPU, memory, event loop, GC).'),
  })
  .strict()
  .prefault({});

export const ConfigSchema = z
  .object({
    server: ServerSchema,
    graphql: GraphqlSchema,
    supergraph: SupergraphSchema,
    subgraphs: z
      .record(z.string().min(1), SubgraphSchema)
      .default({})
      .describe('Per-subgraph settings keyed by subgraph name, e.g. `subgraphs.users.url`.'),
    redis: RedisSchema,
    logging: LoggingSchema,
    metrics: MetricsSchema,
  })
  .strict();

export type GatewayConfig = z.output<typeof ConfigSchema>;
/** What a caller may pass: any subset, defaults fill the rest. */
export type GatewayConfigInput = z.input<typeof ConfigSchema>;

type EnvType = 'string' | 'number';

/** Environment variables that override one config key each. */
export const ENV_OVERRIDES: Readonly<Record<string, { key: string; type: EnvType }>> = {
  HOST: { key: 'server.host', type: 'string' },
  PORT: { key: 'server.port', type: 'number' },
  SUPERGRAPH_PATH: { key: 'supergraph.path', type: 'string' },
  REDIS_URL: { key: 'redis.url', type: 'string' },
  LOG_LEVEL: { key: 'logging.level', type: 'string' },
};

/** `SUBGRAPH_USERS_URL=http://...` sets `subgraphs.users.url` (the name is lower-cased). */
const SUBGRAPH_URL_ENV = /^SUBGRAPH_([A-Z0-9_]+)_URL$/;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export interface LoadConfigOptions {
  /** YAML file to read; when absent, defaults and environment only. */
  file?: string | undefined;
  env?: NodeJS.ProcessEnv;
  /** Applied after the file and before the environment (used by tests and the demo launcher). */
  overrides?: GatewayConfigInput;
}

export function loadConfig(options: LoadConfigOptions = {}): GatewayConfig {
  const env = options.env ?? process.env;
  const raw: Record<string, unknown> = options.file ? readYamlFile(options.file) : {};
  if (options.overrides) deepMerge(raw, options.overrides as Record<string, unknown>);
  const sources = applyEnv(raw, env);
  const result = ConfigSchema.safeParse(raw);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => {
      const key = issueKey(issue);
      const from = sources.get(key);
      return `  ${key || '(root)'}${from ? ` (from env ${from})` : ''}: ${issue.message}`;
    });
    throw new ConfigError(`invalid gateway config:\n${lines.join('\n')}`);
  }
  return result.data;
}

function issueKey(issue: z.core.$ZodIssue): string {
  const path = issue.path.map(String);
  if (issue.code === 'unrecognized_keys') return [...path, ...issue.keys].join('.');
  return path.join('.');
}

function readYamlFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read config file ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (error) {
    throw new ConfigError(`config file ${file} is not valid YAML: ${(error as Error).message}`);
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError(`config file ${file} must hold a mapping of keys, not ${Array.isArray(parsed) ? 'a list' : typeof parsed}`);
  }
  return parsed as Record<string, unknown>;
}

/** Writes env overrides into `raw`; returns which env variable set which key, for error messages. */
function applyEnv(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): Map<string, string> {
  const sources = new Map<string, string>();
  for (const [name, { key, type }] of Object.entries(ENV_OVERRIDES)) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    setPath(raw, key.split('.'), type === 'number' && /^\s*-?\d+(\.\d+)?\s*$/.test(value) ? Number(value) : value);
    sources.set(key, name);
  }
  for (const [name, value] of Object.entries(env)) {
    const match = SUBGRAPH_URL_ENV.exec(name);
    if (!match?.[1] || value === undefined || value === '') continue;
    const subgraph = match[1].toLowerCase();
    setPath(raw, ['subgraphs', subgraph, 'url'], value);
    sources.set(`subgraphs.${subgraph}.url`, name);
  }
  return sources;
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const segment of path.slice(0, -1)) {
    const next = node[segment];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[segment] = {};
    node = node[segment] as Record<string, unknown>;
  }
  node[path[path.length - 1] as string] = value;
}

function deepMerge(target: Record<string, unknown>, source: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(source)) {
    const existing = target[key];
    if (isPlainObject(value) && isPlainObject(existing)) deepMerge(existing, value);
    else if (value !== undefined) target[key] = value;
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
