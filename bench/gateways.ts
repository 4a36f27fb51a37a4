import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { listSubgraphs } from '../gateway/src/supergraph/subgraph-list.js';
import { JWT_SECRET, ROOT } from './harness.js';

/**
 * The gateways `npm run bench` compares, each started as production would run it: plain `node`, no
 * TypeScript loader, NODE_ENV=production. Ours runs the build (`npm run build`, then
 * `node dist/gateway/src/main.js --config <file>`), its log lines going to stdout as in a
 * container, here to /dev/null.
 */
export interface GatewayUnderTest {
  name: string;
  /** Has a REST passthrough (runs the REST scenarios). */
  rest?: boolean;
  description: string;
  start(port: number, supergraphPath: string, extra: { tracesEndpoint?: string | undefined }): ChildProcess;
}

const PRODUCTION_ENV = () => ({ ...process.env, NODE_ENV: 'production', BENCH_JWT_SECRET: JWT_SECRET });

export interface BuiltGatewayOptions {
  /** The build's directory. @default dist/ of this checkout */
  dist?: string | undefined;
  /** A module to `--import` first (a profiler). */
  preload?: string | undefined;
  /** The environment, NODE_ENV and the bench's JWT secret added. @default this process's */
  env?: Record<string, string | undefined> | undefined;
  /** An IPC channel to the child (a preload that reports back). */
  ipc?: boolean | undefined;
}

/** Our built gateway as production runs it: `node <dist>/gateway/src/main.js --config <file>`, NODE_ENV=production, log lines to /dev/null. */
export function spawnBuiltGateway(configPath: string, options: BuiltGatewayOptions = {}): ChildProcess {
  const main = join(options.dist ?? join(ROOT, 'dist'), 'gateway/src/main.js');
  return spawn(process.execPath, [...(options.preload ? ['--import', options.preload] : []), main, '--config', configPath], {
    cwd: ROOT,
    env: { ...(options.env ?? process.env), NODE_ENV: 'production', BENCH_JWT_SECRET: JWT_SECRET },
    stdio: options.ipc ? ['ignore', 'ignore', 'inherit', 'ipc'] : ['ignore', 'ignore', 'inherit'],
  });
}

/** Compiles the gateway to dist/ once per bench run, so that what is measured is what ships. */
export function buildGateway(): void {
  process.stderr.write('building the gateway (npm run build)…\n');
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
}

/** The REST scenarios' routes: plain forwarding, and the same upstream with transforms (a header and a query parameter renamed, a field removed). */
function legacyRoutes(upstream: string): Record<string, unknown>[] {
  return [
    { prefix: '/legacy/users', upstream, rewrite: '/api/v1/users' },
    {
      prefix: '/legacy/users-transformed',
      upstream,
      rewrite: '/api/v1/users',
      transform: {
        request: { headers: { rename: { 'x-client-version': 'x-api-version' } }, query: { rename: { fields: 'select' } } },
        response: { json: { remove: ['email'] } },
      },
    },
  ];
}

/** A config file: one of bench/configs/, pointed at this run's port, supergraph and REST upstream. */
function configFile(name: string, port: number, supergraphPath: string, tracesEndpoint: string | undefined): string {
  const users = listSubgraphs(readFileSync(supergraphPath, 'utf8')).find((subgraph) => subgraph.name === 'users');
  const config = parse(readFileSync(join(ROOT, 'bench/configs', `${name}.yaml`), 'utf8')) as Record<string, unknown>;
  Object.assign(config, {
    server: { ...(config.server as object), host: '127.0.0.1', port },
    supergraph: { path: supergraphPath, watch: false },
    // The REST scenario's upstream is the thin users subgraph, whose address changes every run.
    rest: { routes: legacyRoutes(new URL(users?.url ?? 'http://127.0.0.1:1').origin) },
    ...(tracesEndpoint ? { tracing: { enabled: true, endpoint: tracesEndpoint } } : {}),
  });
  const path = join(mkdtempSync(join(tmpdir(), `bench-${name}-`)), 'gateway.yaml');
  writeFileSync(path, stringify(config));
  return path;
}

const ours =
  (config: string, tracing = false, dist = join(ROOT, 'dist')) =>
  (port: number, supergraph: string, extra: { tracesEndpoint?: string | undefined }) =>
    spawnBuiltGateway(configFile(config, port, supergraph, tracing ? extra.tracesEndpoint : undefined), { dist });

export const GATEWAYS: GatewayUnderTest[] = [
  {
    name: 'apollo',
    description: 'bare @apollo/gateway + @apollo/server (standalone), defaults, no plugins (bench/apollo-gateway.mjs)',
    start: (port, supergraph) =>
      spawn(process.execPath, [join(ROOT, 'bench/apollo-gateway.mjs')], {
        cwd: ROOT,
        env: { ...PRODUCTION_ENV(), BENCH_PORT: String(port), BENCH_SUPERGRAPH: supergraph },
        stdio: ['ignore', 'ignore', 'inherit'],
      }),
  },
  {
    name: 'hive',
    description: '@graphql-hive/gateway CLI (`hive-gateway supergraph`), defaults',
    start: (port, supergraph) =>
      spawn(join(ROOT, 'node_modules/.bin/hive-gateway'), ['supergraph', supergraph, '--host', '127.0.0.1', '--port', String(port)], {
        cwd: mkdtempSync(join(tmpdir(), 'bench-hive-')), // no gateway.config.* is picked up from the repo
        env: { ...process.env, NODE_ENV: 'production' },
        stdio: ['ignore', 'ignore', 'inherit'],
      }),
  },
  {
    name: 'ours-full',
    rest: true,
    description: 'this gateway built (dist/), every capability on (bench/configs/ours-full.yaml)',
    start: ours('ours-full'),
  },
  {
    name: 'ours-traced',
    rest: true,
    description:
      'ours-full with OpenTelemetry tracing on, every request sampled, exported (OTLP/HTTP JSON) to a receiver in the bench process',
    start: ours('ours-full', true),
  },
  {
    name: 'ours-off',
    rest: true,
    description: 'this gateway built (dist/), optional capabilities off (bench/configs/ours-off.yaml)',
    start: ours('ours-off'),
  },
];

/**
 * `--base-dist DIR`: another build of this gateway (an older commit's `tsc` output, with its
 * node_modules reachable), as `ours-base` with the same full config: before/after comparisons of a
 * change in one run, alternating rounds.
 */
export function baseGateway(dist: string): GatewayUnderTest {
  return {
    name: 'ours-base',
    rest: true,
    description: `the build in ${dist}, every capability on (bench/configs/ours-full.yaml)`,
    start: ours('ours-full', false, dist),
  };
}
