import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parse, stringify } from 'yaml';
import { buildGateway, spawnBuiltGateway } from './gateways.js';
import { cpuSeconds } from './process-stats.js';
import { ROOT, freePort, load, startSubgraphs, stop, waitForGraphql, writeSupergraph, type SubgraphMode } from './harness.js';
import { SCENARIOS, type Scenario } from './scenarios.js';

/**
 * `npx tsx bench/profile.ts`: our built gateway (dist/) under one scenario's load with
 * V8's CPU profiler running over the measured window only (bench/profile-preload.mjs), then
 * the profile summarised: self time by package or gateway folder, and the
 * top functions. `--dist DIR --config FILE` profile another build (e.g. an older commit's, to diff).
 *
 * Options: --scenario NAME (default cross-subgraph-varied), --duration S (default 20), --warmup S
 * (default 5), --subgraphs compute|replay (default replay: the gateway's own costs stand out),
 * --top N (default 40), --skip-build. The profile stays where the first line of the summary says (for a flame graph viewer).
 * `--allocations` profiles allocations instead of CPU (the same preload: V8's
 * sampling heap profiler, freed objects included): bytes allocated per request, and their share
 * by package or gateway folder and by allocating function — the garbage behind the collector's time.
 */
const { values: args } = parseArgs({
  options: {
    scenario: { type: 'string', default: 'cross-subgraph-varied' },
    duration: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '5' },
    subgraphs: { type: 'string', default: 'replay' },
    connections: { type: 'string', default: '50' },
    top: { type: 'string', default: '40' },
    dist: { type: 'string' },
    config: { type: 'string' },
    'skip-build': { type: 'boolean', default: false },
    allocations: { type: 'boolean', default: false },
  },
});

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

/** Where a function lives: an npm package, a gateway folder, node's internals, or V8 (GC, idle). */
function owner(url: string, name: string): string {
  if (!url) return `(${name || 'anonymous'})`;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1] as string;
  const src = /gateway\/src\/([^/]+)(\/|\.js)/.exec(url);
  if (src) return `gateway/${src[1]}`;
  if (url.startsWith('node:')) return 'node internals';
  return url.replace(/^file:\/\//, '');
}

function summarise(path: string, top: number, requests: number, cpuMs: number): void {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as { nodes: ProfileNode[]; startTime: number; endTime: number; samples: number[] };
  const total = profile.samples.length;
  const byOwner = new Map<string, number>();
  const byFunction = new Map<string, number>();
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    if (!hits) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const o = owner(url, functionName);
    byOwner.set(o, (byOwner.get(o) ?? 0) + hits);
    const key = `${functionName || '(anonymous)'} ${o}${url ? `:${lineNumber + 1}` : ''}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + hits);
  }
  const idle = byOwner.get('((idle))') ?? 0;
  const busy = total - idle;
  const pct = (n: number) => `${((n / busy) * 100).toFixed(1).padStart(5)}%`;
  process.stdout.write(
    `${path}\n${total} samples, ${busy} busy; the process used ${cpuMs.toFixed(0)} ms of CPU (user+system, /proc) for ${requests} requests: ${(cpuMs / requests).toFixed(2)} ms each ` +
      '(percentages are of busy samples)\n\nself time by owner:\n',
  );
  for (const [o, n] of [...byOwner]
    .filter(([o]) => o !== '((idle))')
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)) {
    process.stdout.write(`${pct(n)}  ${o}\n`);
  }
  process.stdout.write('\ntop functions by self time:\n');
  for (const [f, n] of [...byFunction]
    .filter(([f]) => !f.startsWith('(idle)'))
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)) {
    process.stdout.write(`${pct(n)}  ${f}\n`);
  }
}

interface AllocationNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children?: AllocationNode[];
}

function summariseAllocations(path: string, top: number, requests: number): void {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as { head: AllocationNode };
  const byOwner = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let total = 0;
  const walk = (node: AllocationNode) => {
    const { functionName, url, lineNumber } = node.callFrame;
    const o = owner(url, functionName);
    byOwner.set(o, (byOwner.get(o) ?? 0) + node.selfSize);
    const key = `${functionName || '(anonymous)'} ${o}${url ? `:${lineNumber + 1}` : ''}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + node.selfSize);
    total += node.selfSize;
    for (const child of node.children ?? []) walk(child);
  };
  walk(profile.head);
  const pct = (n: number) => `${((n / total) * 100).toFixed(1).padStart(5)}%`;
  process.stdout.write(
    `${path}\n${(total / 1024 / Math.max(1, requests)).toFixed(0)} KB allocated per request (sampled, freed objects included), ${requests} requests\n\nallocations by owner:\n`,
  );
  for (const [o, n] of [...byOwner].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`${pct(n)}  ${o}\n`);
  process.stdout.write('\ntop allocating functions:\n');
  for (const [f, n] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`${pct(n)}  ${f}\n`);
}

const scenario = SCENARIOS.find((s) => s.name === args.scenario) as Scenario;
const dist = args.dist ?? join(ROOT, 'dist');
if (!args.dist && !args['skip-build']) buildGateway();
const subgraphs = await startSubgraphs(args.subgraphs as SubgraphMode);
const supergraphPath = writeSupergraph(subgraphs.urls);
const port = await freePort();
const config = parse(readFileSync(args.config ?? join(ROOT, 'bench/configs/ours-full.yaml'), 'utf8')) as Record<string, unknown>;
Object.assign(config, { server: { host: '127.0.0.1', port }, supergraph: { path: supergraphPath, watch: false } });
const dir = mkdtempSync(join(tmpdir(), 'bench-profile-'));
writeFileSync(join(dir, 'gateway.yaml'), stringify(config));
const profilePath = join(dir, args.allocations ? 'gateway.heapprofile' : 'gateway.cpuprofile');
const child = spawnBuiltGateway(join(dir, 'gateway.yaml'), {
  dist,
  preload: join(ROOT, 'bench/profile-preload.mjs'),
  env: { ...process.env, BENCH_PROFILE: profilePath, BENCH_PROFILE_KIND: args.allocations ? 'allocations' : 'cpu' },
  ipc: true,
});
const url = `http://127.0.0.1:${port}/graphql`;
let requests = 0;
let cpuMs = 0;
try {
  await waitForGraphql(url, child);
  const warmup = await load(url, scenario, Number(args.warmup), Number(args.connections));
  child.kill('SIGUSR2');
  const cpuBefore = cpuSeconds(child.pid as number);
  const result = await load(url, scenario, Number(args.duration), Number(args.connections), {}, warmup.requests.sent);
  const written = new Promise((resolve) => child.once('message', resolve));
  child.kill('SIGUSR2');
  await written;
  requests = result.requests.total;
  cpuMs = (cpuSeconds(child.pid as number) - cpuBefore) * 1000;
  process.stdout.write(
    `${scenario.name}: ${result.requests.average.toFixed(0)} rps under the profiler, ${result.errors + result.non2xx} errors\n`,
  );
} finally {
  await stop(child);
  await stop(subgraphs.child);
}
if (!existsSync(profilePath)) throw new Error('no profile written');
if (args.allocations) summariseAllocations(profilePath, Number(args.top), requests);
else summarise(profilePath, Number(args.top), requests, cpuMs);
