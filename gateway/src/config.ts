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

/**
 * Resilience settings of one subgraph. Each group is declared once, without defaults; the defaults
 * live in {@link SUBGRAPH_DEFAULTS} and make `resilience.subgraphDefaults`, and the same fields,
 * all optional, make the per-subgraph overrides (`subgraphs.<name>.breaker.volumeThreshold: 5`).
 */
const BreakerFields = {
  enabled: z.boolean().describe('Run calls through a circuit breaker (opossum).'),
  errorThresholdPercentage: z
    .number()
    .min(1)
    .max(100)
    .describe('Failure percentage in the rolling window above which the breaker opens.'),
  rollingWindowMs: positiveInt.describe('Length of the rolling window of call statistics (10 buckets).'),
  volumeThreshold: z
    .number()
    .int()
    .min(0)
    .describe('Calls the window must hold before the breaker may open (a few failures of a quiet subgraph do not open it).'),
  resetTimeoutMs: positiveInt.describe('How long an open breaker waits before letting one probe call through (half-open).'),
};
const BulkheadFields = {
  maxConcurrent: positiveInt.describe('Calls to this subgraph in flight at once; calls over the cap fail fast (`bulkhead_rejected`).'),
};
const RetryFields = {
  maxRetries: z
    .number()
    .int()
    .min(0)
    .max(5)
    .describe('Retries of a query after a connection error or a 502/503/504 (never mutations, never timeouts).'),
  baseDelayMs: positiveInt.describe('Back-off before the first retry; doubles per retry, with full jitter.'),
  maxDelayMs: positiveInt.describe('Upper bound of one back-off.'),
};
const FallbackFields = {
  cache: z
    .boolean()
    .describe('Keep successful query responses and serve them (stale-if-error) when this subgraph fails.'),
  cacheTtlMs: positiveInt.describe('How long a kept response may be served after it was stored.'),
  refreshAfterMs: z
    .number()
    .int()
    .min(0)
    .describe('A kept copy younger than this is not rewritten by this instance (bounds cache writes for hot queries; 0: write every answer).'),
};
const SubgraphResilienceFields = {
  timeoutMs: positiveInt.describe('Timeout of one call (one attempt) to the subgraph.'),
  connections: positiveInt.describe('Size of the keep-alive connection pool to this subgraph.'),
  dedupe: z
    .boolean()
    .describe('Identical concurrent queries (same document, variables and forwarded identity) share one call.'),
  public: z
    .boolean()
    .describe('Responses are the same for every caller: cache and dedupe keys leave the identity out.'),
  publicRootFields: z
    .array(z.string().min(1))
    .describe('Root fields (e.g. `topProducts`) whose responses are the same for every caller; a call is public when all its root fields are.'),
};

const SUBGRAPH_DEFAULTS = {
  timeoutMs: 5_000,
  connections: 64,
  dedupe: true,
  public: false,
  publicRootFields: [] as string[],
  breaker: { enabled: true, errorThresholdPercentage: 50, rollingWindowMs: 10_000, volumeThreshold: 10, resetTimeoutMs: 10_000 },
  bulkhead: { maxConcurrent: 100 },
  retry: { maxRetries: 2, baseDelayMs: 25, maxDelayMs: 250 },
  fallback: { cache: true, cacheTtlMs: 300_000, refreshAfterMs: 1_000 },
};

/** `fields` with each default of `defaults` applied. */
function withDefaults<S extends Record<string, z.ZodType>>(fields: S, defaults: { [K in keyof S]: z.output<S[K]> }) {
  return Object.fromEntries(
    Object.entries(fields).map(([key, schema]) => [key, (schema as z.ZodType).default(defaults[key as keyof S] as never)]),
  ) as { [K in keyof S]: z.ZodDefault<S[K]> };
}

function defaultedGroup<S extends Record<string, z.ZodType>>(fields: S, defaults: { [K in keyof S]: z.output<S[K]> }) {
  return z.object(withDefaults(fields, defaults)).strict().prefault({} as never);
}

const SubgraphDefaultsSchema = z
  .object({
    ...withDefaults(SubgraphResilienceFields, SUBGRAPH_DEFAULTS),
    breaker: defaultedGroup(BreakerFields, SUBGRAPH_DEFAULTS.breaker),
    bulkhead: defaultedGroup(BulkheadFields, SUBGRAPH_DEFAULTS.bulkhead),
    retry: defaultedGroup(RetryFields, SUBGRAPH_DEFAULTS.retry),
    fallback: defaultedGroup(FallbackFields, SUBGRAPH_DEFAULTS.fallback),
  })
  .strict()
  .prefault({});

const SubgraphSchema = z
  .object({
    url: z.url().optional().describe('Overrides the URL the supergraph gives for this subgraph.'),
    ...z.object(SubgraphResilienceFields).partial().shape,
    breaker: z.object(BreakerFields).partial().strict().optional(),
    bulkhead: z.object(BulkheadFields).partial().strict().optional(),
    retry: z.object(RetryFields).partial().strict().optional(),
    fallback: z
      .object({
        ...z.object(FallbackFields).partial().shape,
        static: z
          .string()
          .min(1)
          .optional()
          .describe('JSON file of static fallbacks for this subgraph (see `schema/fallbacks/`), served when it fails and no cached copy exists.'),
      })
      .strict()
      .optional(),
  })
  .strict();

const ResilienceSchema = z
  .object({
    enabled: z
      .boolean()
      .default(true)
      .describe('Timeouts, breakers, bulkheads, retries, dedupe and fallbacks around subgraph calls; false calls subgraphs plainly (used by the benchmark).'),
    requestDeadlineMs: positiveInt
      .default(10_000)
      .describe('Deadline of one GraphQL request: no subgraph attempt or retry starts after it, and attempts are cut at it.'),
    identityHeaders: z
      .array(z.string().min(1).toLowerCase())
      .default(['authorization', 'x-api-key', 'x-user-id', 'x-user-tier', 'x-user-scopes', 'x-auth-kind'])
      .describe('Headers of the outgoing subgraph request that identify the caller; their values are part of cache and dedupe keys.'),
    cacheMaxBytes: positiveInt
      .default(64 * 1024 * 1024)
      .describe('Byte limit of the in-memory fallback cache (used when no Redis is configured).'),
    cacheReadTimeoutMs: positiveInt
      .default(200)
      .describe('How long a fallback lookup may wait for the cache (Redis) before it counts as a miss.'),
    subgraphDefaults: SubgraphDefaultsSchema,
  })
  .strict()
  .prefault({});

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
    resilience: ResilienceSchema,
    redis: RedisSchema,
    logging: LoggingSchema,
    metrics: MetricsSchema,
  })
  .strict();

export type GatewayConfig = z.output<typeof ConfigSchema>;
/** The resilience settings of one subgraph, defaults and overrides merged. */
export type SubgraphSettings = z.output<typeof SubgraphDefaultsSchema> & { fallback: { static?: string | undefined } };

/** `resilience.subgraphDefaults` with `subgraphs.<name>`'s overrides applied, group by group. */
export function subgraphSettings(config: GatewayConfig, name: string): SubgraphSettings {
  const defaults = config.resilience.subgraphDefaults;
  const { url: _url, breaker, bulkhead, retry, fallback, ...own } = config.subgraphs[name] ?? { url: undefined };
  return {
    ...defaults,
    ...definedOnly(own),
    breaker: { ...defaults.breaker, ...definedOnly(breaker) },
    bulkhead: { ...defaults.bulkhead, ...definedOnly(bulkhead) },
    retry: { ...defaults.retry, ...definedOnly(retry) },
    fallback: { ...defaults.fallback, ...definedOnly(fallback) },
  };
}

function definedOnly<T extends object>(value: T | undefined): Partial<T> {
  return Object.fromEntries(Object.entries(value ?? {}).filter(([, v]) => v !== undefined)) as Partial<T>;
}
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
