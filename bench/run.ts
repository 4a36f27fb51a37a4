import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { REQUEST_HEADERS, ROOT, freePort, load, startSubgraphs, stop, tsx, waitForGraphql, writeSupergraph } from './harness.js';
import { cpuSeconds, rssBytes, sampleRss } from './process-stats.js';
import { SCENARIOS, type Scenario } from './scenarios.js';

/**
 * `npm run bench`: each gateway in turn, on the same thin subgraphs and the same supergraph, under
 * the same autocannon load (loopback only, bounded by time). Prints a markdown table and writes it
 * to bench/results/. Ratios to bare Apollo Gateway in the same run are the claim, not absolute rps.
 *
 * Options: --duration S (measured, default 15), --warmup S (discarded, default 3), --connections N
 * (default 50), --only a,b (gateways), --scenarios a,b; --soak: our full gateway only, at a fixed
 * --rate R req/s for --duration S (default 300), reporting RSS at start and end.
 */
const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '15' },
    warmup: { type: 'string', default: '3' },
    connections: { type: 'string', default: '50' },
    only: { type: 'string' },
    scenarios: { type: 'string' },
    soak: { type: 'boolean', default: false },
    rate: { type: 'string', default: '200' },
  },
});

interface GatewayUnderTest {
  name: string;
  /** Has a REST passthrough (runs the REST scenarios). */
  rest?: boolean;
  description: string;
  start(port: number, supergraphPath: string): ChildProcess;
}

const GATEWAYS: GatewayUnderTest[] = [
  {
    name: 'apollo',
    description: 'bare @apollo/gateway + @apollo/server (standalone), defaults, no plugins',
    start: (port, supergraph) => tsx('bench/gateway-process.ts', ['apollo'], { BENCH_PORT: String(port), BENCH_SUPERGRAPH: supergraph }),
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
    description: 'this gateway, every capability on (bench/configs/ours-full.yaml)',
    start: (port, supergraph) =>
      tsx('bench/gateway-process.ts', ['ours'], {
        BENCH_PORT: String(port),
        BENCH_SUPERGRAPH: supergraph,
        BENCH_CONFIG: join(ROOT, 'bench/configs/ours-full.yaml'),
      }),
  },
  {
    name: 'ours-traced',
    rest: true,
    description:
      'ours-full with OpenTelemetry tracing on, every request sampled, exported (OTLP/HTTP JSON) to a receiver in the bench process',
    start: (port, supergraph) =>
      tsx('bench/gateway-process.ts', ['ours'], {
        BENCH_PORT: String(port),
        BENCH_SUPERGRAPH: supergraph,
        BENCH_CONFIG: join(ROOT, 'bench/configs/ours-full.yaml'),
        BENCH_TRACES_ENDPOINT: sink?.url ?? '',
      }),
  },
  {
    name: 'ours-off',
    rest: true,
    description: 'this gateway, optional capabilities off (bench/configs/ours-off.yaml)',
    start: (port, supergraph) =>
      tsx('bench/gateway-process.ts', ['ours'], {
        BENCH_PORT: String(port),
        BENCH_SUPERGRAPH: supergraph,
        BENCH_CONFIG: join(ROOT, 'bench/configs/ours-off.yaml'),
      }),
  },
];

/**
 * An OTLP/HTTP traces receiver for `ours-traced`, in this process: it reads each export and answers
 * 200, as a collector on the same host would (no parsing: the gateway's export cost is measured,
 * not a collector's).
 */
let sink: { url: string; exports: number; bytes: number } | undefined;
async function startTraceSink(): Promise<void> {
  const state = { url: '', exports: 0, bytes: 0 };
  const server = createServer((request, response) => {
    request.on('data', (chunk: Buffer) => (state.bytes += chunk.length));
    request.on('end', () => {
      state.exports++;
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  server.unref();
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`;
  sink = state;
}

interface Row {
  scenario: string;
  gateway: string;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  cpuPercent: number;
  peakRssMb: number;
}

async function verify(url: string, scenario: Scenario, gateway: string): Promise<void> {
  const response = scenario.rest
    ? await fetch(`${new URL(url).origin}${scenario.rest.path(7)}`, {
        headers: { authorization: REQUEST_HEADERS.authorization, ...scenario.rest.headers },
      })
    : await fetch(url, { method: 'POST', headers: REQUEST_HEADERS, body: scenario.body(7) });
  const body = (await response.json()) as { data?: unknown; errors?: unknown };
  if (!response.ok || !scenario.check(body)) {
    throw new Error(`${gateway} gave a wrong answer to ${scenario.name}: ${JSON.stringify(body).slice(0, 300)}`);
  }
}

async function benchmark(): Promise<void> {
  const only = args.only?.split(',');
  const scenarioNames = args.scenarios?.split(',');
  const gateways = GATEWAYS.filter((g) => !only || only.includes(g.name));
  const scenarios = SCENARIOS.filter((s) => !scenarioNames || scenarioNames.includes(s.name));
  const duration = Number(args.duration);
  const warmup = Number(args.warmup);

  if (gateways.some((g) => g.name === 'ours-traced')) await startTraceSink();
  const subgraphs = await startSubgraphs();
  const supergraph = writeSupergraph(subgraphs.urls);
  const rows: Row[] = [];
  try {
    for (const gateway of gateways) {
      const port = await freePort();
      const url = `http://127.0.0.1:${port}/graphql`;
      const child = gateway.start(port, supergraph);
      try {
        await waitForGraphql(url, child);
        for (const scenario of scenarios) {
          if (scenario.rest && !gateway.rest) continue;
          await verify(url, scenario, gateway.name);
          await load(url, scenario, warmup, Number(args.connections));
          const pid = child.pid as number;
          const cpuBefore = cpuSeconds(pid);
          const rss = sampleRss(pid);
          const started = process.hrtime.bigint();
          const result = await load(url, scenario, duration, Number(args.connections));
          const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
          const cpu = cpuSeconds(pid) - cpuBefore;
          const row: Row = {
            scenario: scenario.name,
            gateway: gateway.name,
            rps: result.requests.average,
            p50: result.latency.p50,
            p99: result.latency.p99,
            errors: result.errors + result.timeouts + result.non2xx,
            cpuPercent: (cpu / elapsed) * 100,
            peakRssMb: rss.stop() / 2 ** 20,
          };
          rows.push(row);
          process.stderr.write(
            `${row.scenario.padEnd(22)} ${row.gateway.padEnd(10)} ${row.rps.toFixed(0).padStart(6)} rps  p50 ${row.p50} ms  p99 ${row.p99} ms  errors ${row.errors}\n`,
          );
        }
      } finally {
        await stop(child);
      }
    }
  } finally {
    await stop(subgraphs.child);
  }
  if (sink) process.stderr.write(`trace receiver: ${sink.exports} exports, ${(sink.bytes / 2 ** 20).toFixed(1)} MB\n`);
  report(rows, gateways, scenarios, { duration, warmup });
}

function cpuPerRequest(row: Row): string {
  return row.rps > 0 ? ((row.cpuPercent * 10) / row.rps).toFixed(2) : 'n/a';
}

/** The REST routes with and without transforms side by side, per gateway, when both ran. */
function transformCost(rows: Row[]): string[] {
  const pairs = [...new Set(rows.map((r) => r.gateway))].flatMap((gateway) => {
    const plain = rows.find((r) => r.gateway === gateway && r.scenario === 'rest-get');
    const transformed = rows.find((r) => r.gateway === gateway && r.scenario === 'rest-get-transformed');
    return plain && transformed ? [{ gateway, plain, transformed }] : [];
  });
  if (pairs.length === 0) return [];
  const lines = [
    '## REST transforms against plain forwarding',
    '',
    'The same GET, to the same upstream, in the same run: `rest-get` forwards it as it is; `rest-get-transformed` renames a request',
    'header and a query parameter and reads the JSON answer whole to remove a field (the answer is then sent with a length).',
    '',
    "CPU ms per request (the gateway's CPU time over the window / requests served) is the steadier figure on a shared machine.",
    '',
    '| gateway | plain rps | transformed rps | transformed / plain | p50 ms plain → transformed | p99 ms plain → transformed | CPU ms per request plain → transformed |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const { gateway, plain, transformed } of pairs) {
    lines.push(
      `| ${gateway} | ${plain.rps.toFixed(0)} | ${transformed.rps.toFixed(0)} | ${(transformed.rps / plain.rps).toFixed(2)}× | ` +
        `${plain.p50} → ${transformed.p50} | ${plain.p99} → ${transformed.p99} | ${cpuPerRequest(plain)} → ${cpuPerRequest(transformed)} |`,
    );
  }
  lines.push('');
  return lines;
}

function report(rows: Row[], gateways: GatewayUnderTest[], scenarios: Scenario[], timing: { duration: number; warmup: number }): void {
  const date = new Date().toISOString().slice(0, 10);
  const machine = `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;
  const lines = [
    `# Benchmark ${date}`,
    '',
    `Machine: ${machine}. Load: autocannon, ${args.connections} connections, ${timing.warmup} s warm-up discarded, ${timing.duration} s measured, loopback. ` +
      "CPU is the gateway process tree's user+system time over the measured window (100% = one core); RSS is its peak during the window.",
    '',
    ...gateways.map((g) => `- **${g.name}**: ${g.description}`),
    '',
  ];
  for (const scenario of scenarios) {
    const base = rows.find((r) => r.scenario === scenario.name && r.gateway === 'apollo');
    lines.push(`## ${scenario.name}: ${scenario.description}`, '');
    if (scenario.rest) lines.push('Only this gateway has a REST passthrough: compare ours with every plugin on to ours with them off.', '');
    lines.push(
      '| gateway | rps | vs bare Apollo | p50 ms | p99 ms | errors | CPU % | peak RSS MB |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    );
    for (const row of rows.filter((r) => r.scenario === scenario.name)) {
      const ratio = base ? `${(row.rps / base.rps).toFixed(2)}×` : 'n/a';
      lines.push(
        `| ${row.gateway} | ${row.rps.toFixed(0)} | ${ratio} | ${row.p50} | ${row.p99} | ${row.errors} | ${row.cpuPercent.toFixed(0)} | ${row.peakRssMb.toFixed(0)} |`,
      );
    }
    lines.push('');
  }
  lines.push(...transformCost(rows));
  const markdown = lines.join('\n');
  const dir = join(ROOT, 'bench/results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${date}.md`), markdown);
  writeFileSync(join(dir, 'latest.md'), markdown);
  process.stdout.write(`\n${markdown}\n`);
  if (rows.some((r) => r.errors > 0)) {
    process.stderr.write('errors during the load: these figures are not valid\n');
    process.exitCode = 1;
  }
}

async function soak(): Promise<void> {
  const duration = Number(args.duration === '15' ? '300' : args.duration);
  const rate = Number(args.rate);
  const subgraphs = await startSubgraphs();
  const supergraph = writeSupergraph(subgraphs.urls);
  const gateway = GATEWAYS.find((g) => g.name === 'ours-full') as GatewayUnderTest;
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/graphql`;
  const child = gateway.start(port, supergraph);
  try {
    await waitForGraphql(url, child);
    const scenario = SCENARIOS.find((s) => s.name === 'cross-subgraph-varied') as Scenario;
    // Caches and the V8 heap grow to their working size first; a single RSS reading is one point
    // of a GC sawtooth, so the verdict compares the medians of the first and the last minute.
    await load(url, scenario, Math.max(30, Number(args.warmup)), Number(args.connections), { overallRate: rate });
    const samples: number[] = [];
    const sampler = setInterval(() => samples.push(rssBytes(child.pid as number)), 5_000);
    const result = await load(url, scenario, duration, Number(args.connections), { overallRate: rate });
    clearInterval(sampler);
    const window = Math.min(12, Math.floor(samples.length / 2));
    const start = median(samples.slice(0, window));
    const end = median(samples.slice(-window));
    const growth = ((end - start) / start) * 100;
    const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MB`;
    process.stdout.write(
      `soak: ${duration} s at ${rate} req/s on ${scenario.name}: ${result.requests.total} requests, ` +
        `${result.errors + result.non2xx + result.timeouts} errors, RSS median of the first minute ${mb(start)} → last minute ${mb(end)} ` +
        `(${growth >= 0 ? '+' : ''}${growth.toFixed(1)}%; min ${mb(Math.min(...samples))}, max ${mb(Math.max(...samples))})\n`,
    );
    if (growth > 10) {
      process.stderr.write('RSS grew by more than 10%: look for a leak\n');
      process.exitCode = 1;
    }
  } finally {
    await stop(child);
    await stop(subgraphs.child);
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

await (args.soak ? soak() : benchmark());
