import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { ENV_OVERRIDES, loadConfig } from '../gateway/src/config/index.js';
import { listSubgraphs } from '../gateway/src/supergraph/subgraph-list.js';

/**
 * The deployment files (docker-compose.yml, Dockerfile, .ci/run) cannot be run on machines without
 * a Docker engine, so this file checks them against the code they start: the config the gateway
 * understands, the supergraph's subgraphs, the compiled file layout.
 */

const root = fileURLToPath(new URL('..', import.meta.url));
const read = (path: string): string => readFileSync(join(root, path), 'utf8');

// ---------------------------------------------------------------------------------------------------
// docker-compose.yml

interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string | string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  ports?: (string | number | { target: number | string; published?: number | string })[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: { test?: string | string[]; disable?: boolean };
  profiles?: string[];
  volumes?: (string | { type?: string; source?: string; target: string; read_only?: boolean })[];
  expose?: (string | number)[];
}

// Merge keys (`<<: *app`) are YAML 1.1; Compose supports them, so parse them here too.
const compose = parseYaml(read('docker-compose.yml'), { merge: true }) as { services: Record<string, ComposeService> };
const services = compose.services;

function serviceNamed(name: string): ComposeService {
  const service = services[name];
  if (!service) throw new Error(`docker-compose.yml has no service "${name}"`);
  return service;
}

/**
 * Compose's interpolation of `${VAR}`, `${VAR:-default}` and `${VAR:+replacement}` with the
 * variables of the shell that runs `docker compose` (`shell`); anything else is left as written.
 */
function interpolate(value: string, shell: Record<string, string>): string {
  return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:-|:\+)([^}]*))?\}/g, (_match, name: string, operator?: string, word?: string) => {
    const set = shell[name] !== undefined && shell[name] !== '';
    if (operator === ':-') return set ? (shell[name] as string) : (word ?? '');
    if (operator === ':+') return set ? (word ?? '') : '';
    return shell[name] ?? '';
  });
}

/**
 * A service's environment as a map, whichever of Compose's two forms it is written in, interpolated
 * with `shell` (the variables set where `docker compose` runs; none by default).
 */
function environmentOf(service: ComposeService, shell: Record<string, string> = {}): Record<string, string> {
  const env = service.environment ?? {};
  const entries: [string, string][] = Array.isArray(env)
    ? env.map((entry) => {
        const at = entry.indexOf('=');
        return at < 0 ? [entry, ''] : [entry.slice(0, at), entry.slice(at + 1)];
      })
    : Object.entries(env).map(([key, value]) => [key, value === null ? '' : String(value)]);
  return Object.fromEntries(entries.map(([key, value]) => [key, interpolate(value, shell)]));
}

/**
 * Tracing variables: `TRACING_ENABLED` is the env override of `tracing.enabled` (the tracing
 * module's key in ENV_OVERRIDES), the `OTEL_*` ones are read by the OpenTelemetry SDK itself.
 */
const TRACING_ENV = ['TRACING_ENABLED', 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'OTEL_SERVICE_NAME'];
const OBSERVABILITY_SERVICES = ['grafana', 'jaeger', 'prometheus'];

function commandOf(service: ComposeService): string[] {
  const command = service.command;
  if (command === undefined) return [];
  return Array.isArray(command) ? command : command.split(/\s+/).filter(Boolean);
}

function healthcheckText(service: ComposeService): string {
  const test = service.healthcheck?.test;
  return Array.isArray(test) ? test.join(' ') : (test ?? '');
}

const gateway = serviceNamed('gateway');
const gatewayEnv = environmentOf(gateway);
const supergraphSubgraphs = listSubgraphs(read('schema/supergraph.graphql'));
const SUBGRAPH_SERVICES = ['users', 'orders', 'products'] as const;

describe('docker-compose.yml', () => {
  it('defines redis, the three subgraphs and the gateway, and the observability services only in their profile', () => {
    const always = Object.entries(services).filter(([, service]) => !service.profiles?.length);
    expect(always.map(([name]) => name).sort()).toEqual(['gateway', 'orders', 'products', 'redis', 'users']);
    const profiled = Object.entries(services).filter(([, service]) => service.profiles?.length);
    expect(profiled.map(([name]) => name).sort()).toEqual(OBSERVABILITY_SERVICES);
    for (const [name, service] of profiled) expect(service.profiles, name).toEqual(['observability']);
    expect(serviceNamed('redis').image).toMatch(/^redis:7/);
  });

  it('starts the gateway only after every dependency reports healthy, and each dependency has a healthcheck', () => {
    const dependsOn = gateway.depends_on;
    expect(dependsOn).toBeDefined();
    expect(Array.isArray(dependsOn)).toBe(false); // the short list form cannot carry a condition
    const entries = Object.entries(dependsOn as Record<string, { condition?: string }>);
    expect(entries.map(([name]) => name).sort()).toEqual(['orders', 'products', 'redis', 'users']);
    for (const [name, dependency] of entries) {
      expect(dependency.condition, `depends_on.${name}.condition`).toBe('service_healthy');
      const service = serviceNamed(name);
      expect(service.healthcheck?.disable, `${name} healthcheck disabled`).not.toBe(true);
      expect(healthcheckText(service), `${name} healthcheck`).not.toBe('');
    }
    expect(healthcheckText(serviceNamed('redis'))).toContain('redis-cli ping');
  });

  it('health-checks each subgraph on the /health of the port it listens on, and the gateway on /ready', () => {
    for (const name of SUBGRAPH_SERVICES) {
      const port = environmentOf(serviceNamed(name))[`${name.toUpperCase()}_PORT`];
      expect(port, `${name} port`).toMatch(/^\d+$/);
      expect(healthcheckText(serviceNamed(name))).toContain(`127.0.0.1:${port}/health`);
    }
    expect(healthcheckText(gateway)).toContain(`127.0.0.1:${gatewayEnv.PORT}/ready`);
  });

  it('gives the gateway only environment variables its config understands', () => {
    const subgraphNames = new Set(supergraphSubgraphs.map((subgraph) => subgraph.name.toUpperCase()));
    expect(subgraphNames.size).toBeGreaterThan(0);
    const names = Object.keys(gatewayEnv);
    expect(names.length).toBeGreaterThan(0);
    for (const name of names) {
      const subgraph = /^SUBGRAPH_([A-Z0-9_]+)_URL$/.exec(name)?.[1];
      const understood = name in ENV_OVERRIDES || (subgraph !== undefined && subgraphNames.has(subgraph)) || TRACING_ENV.includes(name);
      expect(understood, `gateway env ${name} is not read by gateway/src/config.ts`).toBe(true);
    }
  });

  it('yields a valid config from the gateway environment: port 4000, the Redis URL and every subgraph URL', () => {
    const config = loadConfig({ env: gatewayEnv });
    expect(config.server.port).toBe(4000);
    expect(config.server.host).toBe('0.0.0.0');
    expect(config.redis.url).toBe('redis://redis:6379');
    expect(config.supergraph.path).toBe('schema/supergraph.graphql');
    expect(existsSync(join(root, config.supergraph.path))).toBe(true);
    expect(config.subgraphs).toEqual({
      users: { url: 'http://users:4001/graphql' },
      orders: { url: 'http://orders:4002/graphql' },
      products: { url: 'http://products:4003/graphql' },
    });
    // Every subgraph of the supergraph is overridden; none is left on its localhost URL.
    expect(Object.keys(config.subgraphs).sort()).toEqual(supergraphSubgraphs.map((subgraph) => subgraph.name).sort());
  });

  it('points each subgraph URL at a compose service and the port that service listens on', () => {
    const config = loadConfig({ env: gatewayEnv });
    for (const [name, { url }] of Object.entries(config.subgraphs)) {
      const target = new URL(url ?? '');
      const service = serviceNamed(target.hostname);
      // The subgraph server reads `<NAME>_PORT` (subgraphs/shared/server.ts).
      const listenPort = environmentOf(service)[`${target.hostname.toUpperCase()}_PORT`];
      expect(target.port, `subgraphs.${name}.url port`).toBe(listenPort);
      expect(environmentOf(service).HOST, `${target.hostname} must listen on all interfaces`).toBe('0.0.0.0');
      expect(commandOf(service).join(' ')).toContain(`dist/subgraphs/${target.hostname}/index.js`);
      expect(target.pathname).toBe('/graphql');
    }
  });

  it('publishes the gateway on the port it listens on', () => {
    expect(gateway.ports).toHaveLength(1);
    const mapping = gateway.ports?.[0];
    const containerPort =
      typeof mapping === 'object'
        ? String(mapping.target)
        : String(mapping)
            .split(':')
            .at(-1)
            ?.replace(/\/(tcp|udp)$/, '');
    expect(containerPort).toBe(gatewayEnv.PORT);
    expect(gatewayEnv.PORT).toBe('4000');
  });
});

// ---------------------------------------------------------------------------------------------------
// docker-compose.yml: the observability profile (Prometheus, Grafana, Jaeger)

interface Mount {
  source: string;
  target: string;
  readOnly: boolean;
}

function mountsOf(service: ComposeService): Mount[] {
  return (service.volumes ?? []).map((volume) => {
    if (typeof volume !== 'string') return { source: volume.source ?? '', target: volume.target, readOnly: volume.read_only === true };
    const [source = '', target = '', mode = ''] = volume.split(':');
    return { source, target, readOnly: mode.split(',').includes('ro') };
  });
}

/** The host file behind `containerPath` in `service`'s bind mounts, or undefined. */
function hostPathOf(service: ComposeService, containerPath: string): string | undefined {
  for (const mount of mountsOf(service)) {
    if (containerPath === mount.target || containerPath.startsWith(`${mount.target}/`)) {
      return join(root, mount.source, containerPath.slice(mount.target.length));
    }
  }
  return undefined;
}

function containerPortsOf(service: ComposeService): string[] {
  return (service.ports ?? []).map((mapping) =>
    typeof mapping === 'object' ? String(mapping.target) : (String(mapping).split(':').at(-1) ?? '').replace(/\/(tcp|udp)$/, ''),
  );
}

describe('docker-compose.yml observability profile', () => {
  const observability = OBSERVABILITY_SERVICES.map((name) => [name, serviceNamed(name)] as const);

  it('pins every image to a version (no latest, no bare major)', () => {
    for (const [name, service] of observability) {
      expect(service.build, `${name} is a published image`).toBeUndefined();
      expect(service.image, name).toMatch(/^[a-z0-9./-]+:v?\d+\.\d+\.\d+$/);
    }
  });

  it('bind-mounts files that exist in the repository, read-only', () => {
    let mounts = 0;
    for (const [name, service] of observability) {
      for (const mount of mountsOf(service)) {
        mounts++;
        expect(mount.source, `${name} mounts a repository path`).toMatch(/^\.\//);
        expect(existsSync(join(root, mount.source)), `${name}: ${mount.source} exists`).toBe(true);
        expect(mount.readOnly, `${name}: ${mount.source} is read-only`).toBe(true);
      }
    }
    expect(mounts).toBeGreaterThanOrEqual(3);
  });

  it('publishes its UIs on 127.0.0.1 only (Grafana lets anonymous viewers in)', () => {
    const published = observability.flatMap(([, service]) => (service.ports ?? []).map(String));
    expect(published.length).toBeGreaterThanOrEqual(3);
    for (const mapping of published) expect(mapping).toMatch(/^127\.0\.0\.1:\d+:\d+$/);
    expect(containerPortsOf(serviceNamed('prometheus'))).toContain('9090');
    expect(containerPortsOf(serviceNamed('grafana'))).toContain('3000');
    expect(containerPortsOf(serviceNamed('jaeger'))).toContain('16686');
  });

  it('is never started by the core services: none of them depends on a profile service', () => {
    for (const [name, service] of Object.entries(services)) {
      if (service.profiles?.length) continue;
      const dependsOn = Array.isArray(service.depends_on) ? service.depends_on : Object.keys(service.depends_on ?? {});
      for (const dependency of dependsOn) expect(OBSERVABILITY_SERVICES, `${name} depends on ${dependency}`).not.toContain(dependency);
    }
  });

  it('Prometheus scrapes the gateway on the port and path it serves /metrics on, and loads the mounted alert rules', () => {
    const prometheus = serviceNamed('prometheus');
    const configArg = commandOf(prometheus)
      .find((arg) => arg.startsWith('--config.file='))
      ?.slice('--config.file='.length);
    expect(configArg).toBeDefined();
    const configFile = hostPathOf(prometheus, configArg as string);
    expect(configFile && existsSync(configFile)).toBe(true);
    const config = parseYaml(readFileSync(configFile as string, 'utf8')) as {
      rule_files: string[];
      scrape_configs: { job_name: string; metrics_path?: string; static_configs: { targets: string[] }[] }[];
    };
    const job = config.scrape_configs.find((entry) => entry.job_name === 'gateway');
    expect(job?.static_configs.flatMap((entry) => entry.targets)).toEqual([`gateway:${gatewayEnv.PORT}`]);
    expect(job?.metrics_path ?? '/metrics').toBe(loadConfig({ env: gatewayEnv }).metrics.path);
    expect(config.rule_files.length).toBeGreaterThan(0);
    for (const file of config.rule_files) {
      const host = hostPathOf(prometheus, file);
      expect(host && existsSync(host), `rule file ${file} is mounted`).toBe(true);
    }
  });

  it('Grafana is provisioned with the compose Prometheus and loads the dashboards it mounts', () => {
    const grafana = serviceNamed('grafana');
    const provisioning = hostPathOf(grafana, '/etc/grafana/provisioning');
    expect(provisioning).toBeDefined();
    const datasources = parseYaml(readFileSync(join(provisioning as string, 'datasources', 'prometheus.yml'), 'utf8')) as {
      datasources: { uid: string; type: string; url: string; isDefault?: boolean }[];
    };
    const [datasource] = datasources.datasources;
    expect(datasource?.type).toBe('prometheus');
    const url = new URL(datasource?.url ?? '');
    expect(serviceNamed(url.hostname).image).toMatch(/^prom\/prometheus:/);
    expect(containerPortsOf(serviceNamed(url.hostname))).toContain(url.port);
    const providers = parseYaml(readFileSync(join(provisioning as string, 'dashboards', 'gateway.yml'), 'utf8')) as {
      providers: { type: string; options: { path: string } }[];
    };
    const dashboards = hostPathOf(grafana, providers.providers[0]?.options.path ?? '');
    expect(dashboards && existsSync(join(dashboards, 'gateway.json'))).toBe(true);
    const home = environmentOf(grafana).GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH ?? '';
    expect(existsSync(hostPathOf(grafana, home) ?? '')).toBe(true);
    // The dashboard's datasource variable starts on the provisioned Prometheus.
    const dashboard = JSON.parse(readFileSync(join(dashboards as string, 'gateway.json'), 'utf8')) as {
      templating: { list: { name: string; type: string; current?: { value?: string } }[] };
    };
    const variable = dashboard.templating.list.find((entry) => entry.type === 'datasource');
    expect(variable?.current?.value).toBe(datasource?.uid);
  });

  it('leaves tracing off unless TRACING_ENABLED is set, and then points the gateway and every subgraph at Jaeger', () => {
    const traced = ['gateway', ...SUBGRAPH_SERVICES];
    for (const name of traced) expect(environmentOf(serviceNamed(name)).OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, name).toBe('');
    expect(gatewayEnv.TRACING_ENABLED).toBe('false');

    const shell = { TRACING_ENABLED: 'true' };
    const names = new Set<string>();
    for (const name of traced) {
      const env = environmentOf(serviceNamed(name), shell);
      const endpoint = new URL(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? '');
      expect(endpoint.pathname).toBe('/v1/traces');
      expect(OBSERVABILITY_SERVICES).toContain(endpoint.hostname);
      expect(serviceNamed(endpoint.hostname).expose?.map(String)).toContain(endpoint.port);
      names.add(env.OTEL_SERVICE_NAME ?? '');
    }
    expect(names.size).toBe(traced.length);
    expect(environmentOf(gateway, shell).TRACING_ENABLED).toBe('true');
    // Both ways, the gateway's environment is a valid config.
    expect(loadConfig({ env: environmentOf(gateway, shell) }).server.port).toBe(4000);
  });
});

// ---------------------------------------------------------------------------------------------------
// Dockerfile

interface Instruction {
  keyword: string;
  args: string;
}

/** Instructions of a Dockerfile: comments dropped, `\` continuations joined. */
function parseDockerfile(text: string): Instruction[] {
  const instructions: Instruction[] = [];
  let pending = '';
  for (const rawLine of text.split('\n')) {
    const line = rawLine.trim();
    if (!pending && (line === '' || line.startsWith('#'))) continue;
    if (pending && line.startsWith('#')) continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    const full = (pending + line).trim();
    pending = '';
    const match = /^(\S+)\s*(.*)$/s.exec(full);
    if (match?.[1]) instructions.push({ keyword: match[1].toUpperCase(), args: match[2] ?? '' });
  }
  return instructions;
}

/** Instructions grouped by stage (each FROM starts one). */
function stagesOf(instructions: Instruction[]): Instruction[][] {
  const stages: Instruction[][] = [];
  for (const instruction of instructions) {
    if (instruction.keyword === 'FROM') stages.push([]);
    stages.at(-1)?.push(instruction);
  }
  return stages;
}

const dockerfile = parseDockerfile(read('Dockerfile'));
const stages = stagesOf(dockerfile);
const runtime = stages.at(-1) ?? [];

function lastOf(stage: Instruction[], keyword: string): Instruction | undefined {
  return stage.filter((instruction) => instruction.keyword === keyword).at(-1);
}

/** Where `tsc -p tsconfig.build.json` writes the file compiled from `source` (a repo-relative .ts path). */
function compiledPathOf(source: string): string {
  const parsed = ts.getParsedCommandLineOfConfigFile(join(root, 'tsconfig.build.json'), undefined, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (diagnostic) => {
      throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'));
    },
  });
  if (!parsed) throw new Error('cannot read tsconfig.build.json');
  const { outDir, rootDir, noEmit } = parsed.options;
  expect(noEmit).not.toBe(true);
  if (!outDir || !rootDir) throw new Error('tsconfig.build.json must set outDir and rootDir');
  const absolute = resolve(root, source);
  expect(
    parsed.fileNames.map((file) => resolve(file)),
    `${source} is compiled by tsconfig.build.json`,
  ).toContain(absolute);
  return relative(root, join(outDir, relative(rootDir, absolute))).replace(/\.ts$/, '.js');
}

describe('Dockerfile', () => {
  it('builds every stage FROM a Node 20 image, in two or more stages', () => {
    const froms = dockerfile.filter((instruction) => instruction.keyword === 'FROM');
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const from of froms) {
      const image = from.args.split(/\s+/).filter((word) => !word.startsWith('--'))[0];
      expect(image, from.args).toMatch(/^(docker\.io\/)?(library\/)?node:20([.-]|$)/);
    }
  });

  it('builds with dev dependencies and ships production dependencies only', () => {
    const runs = (stage: Instruction[]) =>
      stage
        .filter((instruction) => instruction.keyword === 'RUN')
        .map((instruction) => instruction.args)
        .join('\n');
    const build = stages[0] ?? [];
    expect(runs(build)).toMatch(/npm ci(?!.*--omit)/);
    expect(runs(build)).toContain('npm run build');
    expect(runs(runtime)).toContain('npm ci --omit=dev');
    expect(runs(runtime)).not.toContain('npm run build');
    const copies = runtime.filter((instruction) => instruction.keyword === 'COPY').map((instruction) => instruction.args);
    expect(copies.some((args) => /--from=\S+\s+\/app\/dist\s/.test(args))).toBe(true);
    expect(runtime.some((instruction) => instruction.keyword === 'ENV' && /NODE_ENV=production/.test(instruction.args))).toBe(true);
  });

  it('ships the data files read at run time: schema/ (supergraph) and each subgraph schema.graphql', () => {
    const build = (stages[0] ?? []).map((instruction) => instruction.args).join('\n');
    expect(build).toMatch(/cp -r schema /);
    expect(build).toMatch(/find subgraphs -name '\*\.graphql'/);
    expect(runtime.some((instruction) => instruction.keyword === 'COPY' && instruction.args.includes('/runtime-data/'))).toBe(true);
    for (const name of SUBGRAPH_SERVICES) expect(existsSync(join(root, 'subgraphs', name, 'schema.graphql'))).toBe(true);
  });

  it('runs as a non-root user', () => {
    const user = lastOf(runtime, 'USER');
    expect(user).toBeDefined();
    expect(user?.args.split(':')[0]).not.toMatch(/^(root|0)$/);
    // The USER line must come before the command it applies to.
    const cmdIndex = runtime.findIndex((instruction) => instruction.keyword === 'CMD');
    expect(runtime.indexOf(user as Instruction)).toBeLessThan(cmdIndex);
  });

  it('exposes 4000 and health-checks /health with Node (no curl in slim images)', () => {
    expect(lastOf(runtime, 'EXPOSE')?.args).toBe('4000');
    const healthcheck = lastOf(runtime, 'HEALTHCHECK')?.args ?? '';
    expect(healthcheck).toContain('"node"');
    expect(healthcheck).toContain('/health');
    expect(healthcheck).not.toContain('curl');
  });

  it('starts dist/gateway/src/main.js, which is where tsc compiles gateway/src/main.ts', () => {
    const cmd = JSON.parse(lastOf(runtime, 'CMD')?.args ?? 'null') as unknown;
    expect(cmd).toEqual(['node', 'dist/gateway/src/main.js']);
    expect(compiledPathOf('gateway/src/main.ts')).toBe('dist/gateway/src/main.js');
    expect(lastOf(runtime, 'WORKDIR')?.args).toBe('/app');
  });

  it('can run each compose subgraph from the same image: its command is a compiled subgraphs/<name>/index.ts', () => {
    for (const name of SUBGRAPH_SERVICES) {
      const service = serviceNamed(name);
      expect(service.build, `${name} builds from the Dockerfile`).toEqual(gateway.build);
      const command = commandOf(service);
      expect(command[0]).toBe('node');
      const script = command[1] ?? '';
      expect(isAbsolute(script)).toBe(false);
      expect(existsSync(join(root, 'subgraphs', name, 'index.ts'))).toBe(true);
      expect(script).toBe(compiledPathOf(`subgraphs/${name}/index.ts`));
    }
    expect(commandOf(gateway)).toEqual(['node', compiledPathOf('gateway/src/main.ts')]);
  });

  it('keeps local state out of the build context', () => {
    const ignored = read('.dockerignore')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith('#'));
    for (const entry of ['node_modules', 'dist', '.git', '.scratch', 'coverage', 'bench/results']) expect(ignored).toContain(entry);
    // Everything the build stage copies must stay in the context.
    const copied = (stages[0] ?? [])
      .filter((instruction) => instruction.keyword === 'COPY' && !instruction.args.includes('--from'))
      .flatMap((instruction) => instruction.args.split(/\s+/).slice(0, -1));
    expect(copied.length).toBeGreaterThan(0);
    for (const path of copied) {
      expect(ignored, `${path} is copied but ignored`).not.toContain(path);
      expect(existsSync(join(root, path)), `${path} exists`).toBe(true);
    }
  });
});

// ---------------------------------------------------------------------------------------------------
// .ci/run

describe('.ci/run', () => {
  it('is an executable bash script that installs from the lockfile and runs the test suite', () => {
    const path = join(root, '.ci', 'run');
    expect(statSync(path).mode & 0o111).not.toBe(0);
    const script = readFileSync(path, 'utf8');
    expect(script.startsWith('#!/usr/bin/env bash\n') || script.startsWith('#!/bin/bash\n')).toBe(true);
    expect(script).toContain('set -euo pipefail');
    expect(script).toMatch(/^\s*npm ci\b/m);
    expect(script).toMatch(/^\s*npm test\b/m);
    expect(script).toMatch(/^\s*npm run typecheck\b/m);
  });
});

// ---------------------------------------------------------------------------------------------------
// build output

describe('build output', () => {
  it('copies every non-TypeScript file the gateway reads at run time next to the compiled code', () => {
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) walk(path);
        else if (!path.endsWith('.ts')) files.push(path);
      }
    };
    walk('gateway/src');
    expect(files.length).toBeGreaterThan(0);
    const out = mkdtempSync(join(tmpdir(), 'gw-build-assets-'));
    const result = spawnSync(process.execPath, ['scripts/copy-assets.mjs', out], { cwd: root, encoding: 'utf8' });
    expect(result.status).toBe(0);
    for (const file of files) expect(existsSync(join(out, file)), `${file} is not copied by npm run build`).toBe(true);
    expect(read('package.json')).toContain('node scripts/copy-assets.mjs');
  });
});
