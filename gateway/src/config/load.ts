import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from '../config-kit.js';
import { ConfigSchema, type GatewayConfig, type GatewayConfigInput } from './schema.js';
import { isRecord } from '../records.js';

/**
 * Loading the gateway configuration. Sources, later wins: defaults → YAML file (`--config FILE` or
 * `GATEWAY_CONFIG`) → environment variables listed in {@link ENV_OVERRIDES} → `SUBGRAPH_<NAME>_URL`.
 * Unknown keys are errors, so a typo is reported instead of silently ignored.
 */

/** `list`: comma-separated, blanks trimmed. */
type EnvType = 'string' | 'number' | 'boolean' | 'list';

/** Environment variables that override one config key each. */
export const ENV_OVERRIDES: Readonly<Record<string, { key: string; type: EnvType }>> = {
  HOST: { key: 'server.host', type: 'string' },
  PORT: { key: 'server.port', type: 'number' },
  SUPERGRAPH_PATH: { key: 'supergraph.path', type: 'string' },
  REDIS_URL: { key: 'redis.url', type: 'string' },
  REDIS_CLUSTER_NODES: { key: 'redis.cluster.nodes', type: 'list' },
  AUTH_REQUIRED: { key: 'auth.required', type: 'boolean' },
  LOG_LEVEL: { key: 'logging.level', type: 'string' },
  TRACING_ENABLED: { key: 'tracing.enabled', type: 'boolean' },
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: { key: 'tracing.endpoint', type: 'string' },
  OTEL_SERVICE_NAME: { key: 'tracing.serviceName', type: 'string' },
};

/** `SUBGRAPH_USERS_URL=http://...` sets `subgraphs.users.url` (the name is lower-cased); `http://a,http://b` sets `subgraphs.users.upstreams`. */
const SUBGRAPH_URL_ENV = /^SUBGRAPH_([A-Z0-9_]+)_URL$/;

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
      // A list from the environment is reported by item (`redis.cluster.nodes.0`): find its variable.
      const from = sources.get(key) ?? [...sources].find(([source]) => key.startsWith(`${source}.`))?.[1];
      return `  ${key || '(root)'}${from ? ` (from env ${from})` : ''}: ${issue.message}`;
    });
    throw new ConfigError(`invalid gateway config:\n${lines.join('\n')}`);
  }
  result.data.graphql.production ??= env.NODE_ENV === 'production';
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
    // Warnings are not printed (the parser would quote the file's lines on stderr); errors are thrown.
    parsed = parseYaml(text, { logLevel: 'error' });
  } catch (error) {
    throw new ConfigError(`config file ${file} is not valid YAML: ${yamlProblem(error)}`);
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError(`config file ${file} must hold a mapping of keys, not ${Array.isArray(parsed) ? 'a list' : typeof parsed}`);
  }
  return parsed as Record<string, unknown>;
}

/**
 * The YAML error without the lines of the file that the parser quotes after it (`:` and the source
 * around the error): the file may hold secrets (a Redis URL with its password, a JWT secret), and
 * this text reaches logs, `/ready` and the admin API's answer to a reload.
 */
function yamlProblem(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const quoted = message.indexOf(':\n');
  const head = quoted < 0 ? message : message.slice(0, quoted);
  // What follows a `: ` in the problem itself is text from the file too (`Unresolved alias …: <name>`).
  const position = / at line \d+, column \d+$/.exec(head)?.[0] ?? '';
  const problem = head.slice(0, head.length - position.length);
  const colon = problem.indexOf(': ');
  return (colon < 0 ? problem : problem.slice(0, colon)) + position;
}

/** Writes env overrides into `raw`; returns which env variable set which key, for error messages. */
function applyEnv(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): Map<string, string> {
  const sources = new Map<string, string>();
  for (const [name, { key, type }] of Object.entries(ENV_OVERRIDES)) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    setPath(raw, key.split('.'), envValue(type, value));
    sources.set(key, name);
  }
  for (const [name, value] of Object.entries(env)) {
    const match = SUBGRAPH_URL_ENV.exec(name);
    if (!match?.[1] || value === undefined || value === '') continue;
    const subgraph = match[1].toLowerCase();
    // A comma-separated list is replicas. Unambiguous enough: a subgraph URL with a comma of its own
    // (in its path or query) must be set in the config file instead.
    if (value.includes(',')) {
      const entry = (raw.subgraphs as Record<string, Record<string, unknown>> | undefined)?.[subgraph];
      if (entry) delete entry.url;
      setPath(
        raw,
        ['subgraphs', subgraph, 'upstreams'],
        value.split(',').map((url) => ({ url: url.trim() })),
      );
      value.split(',').forEach((_url, index) => sources.set(`subgraphs.${subgraph}.upstreams.${index}.url`, name));
      continue;
    }
    const entry = (raw.subgraphs as Record<string, Record<string, unknown>> | undefined)?.[subgraph];
    if (entry) delete entry.upstreams;
    setPath(raw, ['subgraphs', subgraph, 'url'], value);
    sources.set(`subgraphs.${subgraph}.url`, name);
  }
  return sources;
}

function envValue(type: EnvType, value: string): unknown {
  if (type === 'list')
    return value
      .split(',')
      .map((item) => item.trim())
      .filter(Boolean);
  if (type === 'number' && /^\s*-?\d+(\.\d+)?\s*$/.test(value)) return Number(value);
  if (type === 'boolean' && /^(true|1)$/i.test(value.trim())) return true;
  if (type === 'boolean' && /^(false|0)$/i.test(value.trim())) return false;
  return value;
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
    if (isRecord(value) && isRecord(existing)) deepMerge(existing, value);
    else if (value !== undefined) target[key] = value;
  }
}
