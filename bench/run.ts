import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { barChart } from './chart.js';
import { GATEWAYS, baseGateway, buildGateway, type GatewayUnderTest } from './gateways.js';
import {
  REQUEST_HEADERS,
  ROOT,
  freePort,
  load,
  loadChecked,
  startSubgraphs,
  stop,
  waitForGraphql,
  writeSupergraph,
  type SubgraphMode,
} from './harness.js';
import { cpuSeconds, machineTicks, rssBytes, sampleRss } from './process-stats.js';
import { SCENARIOS, type Scenario } from './scenarios.js';

/**
 * `npm run bench`: each gateway in turn, on the same subgraphs and the same supergraph, under the
 * same autocannon load (loopback only, bounded by time), every answer checked against the exact
 * expected one. Prints a markdown table and writes it, with an SVG chart, to bench/results/.
 * Ratios to bare Apollo Gateway in the same run are the claim, not absolute rps.
 *
 * Options: --duration S (measured, default 15), --warmup S (discarded, default 3), --connections N
 * (default 50), --only a,b (gateways), --scenarios a,b, --subgraphs compute|replay (default
 * compute), --rounds N (default 1: gateways alternate, order reversed every other round; figures
 * are medians, ratios the median of each round's ratio), --skip-build (use the existing dist/),
 * --base-dist DIR (adds `ours-base`: another build of ours, for before/after comparisons);
 * --soak: our full gateway only (with --base-dist, that build instead), at a fixed --rate R req/s
 * for --duration S (default 600), reporting RSS over time and a growth verdict, and the gateway's
 * and Redis' CPU per request over the window.
 */
const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '15' },
    warmup: { type: 'string', default: '3' },
    connections: { type: 'string', default: '50' },
    only: { type: 'string' },
    scenarios: { type: 'string' },
    subgraphs: { type: 'string', default: 'compute' },
    rounds: { type: 'string', default: '1' },
    'skip-build': { type: 'boolean', default: false },
    'base-dist': { type: 'string' },
    soak: { type: 'boolean', default: false },
    rate: { type: 'string', default: '200' },
  },
});
const mode = args.subgraphs as SubgraphMode;
if (mode !== 'compute' && mode !== 'replay') throw new Error(`--subgraphs must be compute or replay, not ${String(mode)}`);

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
  round: number;
  scenario: string;
  gateway: string;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  cpuPercent: number;
  /** Gateway CPU (user+system) per answered request: steadier than rps on a loaded machine. */
  cpuMsPerRequest: number;
  /** CPU of the subgraphs' process per answered request: the work the gateway's calls cost them. */
  subgraphCpuMsPerRequest: number;
  /** The subgraphs' process CPU over the window (100% = one core): the three subgraphs share one event loop, so near 100% they bound every gateway. */
  subgraphCpuPercent: number;
  /** Every core's busy share over the window (100% = all cores busy, steal included): near 100% the run is bound by the machine. */
  machineBusyPercent: number;
  /** Redis server CPU per answered request (INFO cpu; NaN when Redis does not answer): the gateway's cache and budget commands. */
  redisCpuMsPerRequest: number;
  /** Bytes Redis received per answered request (INFO stats), in KB. */
  redisKbInPerRequest: number;
  /** CPU of this process (autocannon and the answer checks) per answered request: it shares the cores with the gateway. */
  loadCpuMsPerRequest: number;
  peakRssMb: number;
  /** Why this measurement is not valid (a wrong answer, an error), or undefined. */
  failure?: string | undefined;
}

async function verify(url: string, scenario: Scenario): Promise<string | undefined> {
  const response = scenario.rest
    ? await fetch(`${new URL(url).origin}${scenario.rest.path(7)}`, {
        headers: { authorization: REQUEST_HEADERS.authorization, ...scenario.rest.headers },
      })
    : await fetch(url, { method: 'POST', headers: REQUEST_HEADERS, body: scenario.body(7) });
  const body = await response.text();
  return scenario.verify ? scenario.verify(response.status, body, 7) : 'the scenario has no answer check';
}

/** The Redis of bench/configs/ours-full.yaml. */
const REDIS_URL = 'redis://127.0.0.1:6379';

/** What the shared Redis server has used so far: CPU seconds (INFO cpu) and bytes received (INFO stats); NaN when it does not answer. */
async function redisUsage(): Promise<{ cpuSeconds: number; bytesIn: number }> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
  redis.on('error', () => undefined); // Redis down: NaN below, not ioredis' "Unhandled error event"
  try {
    await redis.connect();
    const info = await redis.info();
    const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? Number.NaN);
    return { cpuSeconds: field('used_cpu_user') + field('used_cpu_sys'), bytesIn: field('total_net_input_bytes') };
  } catch {
    return { cpuSeconds: Number.NaN, bytesIn: Number.NaN };
  } finally {
    redis.disconnect();
  }
}

async function measure(url: string, pid: number, subgraphsPid: number, scenario: Scenario, gateway: string, round: number): Promise<Row> {
  const connections = Number(args.connections);
  const wrongFirst = await verify(url, scenario);
  if (wrongFirst)
    return {
      round,
      scenario: scenario.name,
      gateway,
      rps: 0,
      p50: 0,
      p99: 0,
      errors: 0,
      cpuPercent: 0,
      cpuMsPerRequest: 0,
      subgraphCpuMsPerRequest: 0,
      subgraphCpuPercent: 0,
      machineBusyPercent: 0,
      redisCpuMsPerRequest: 0,
      redisKbInPerRequest: 0,
      loadCpuMsPerRequest: 0,
      peakRssMb: 0,
      failure: wrongFirst,
    };
  const warmup = await load(url, scenario, Number(args.warmup), connections);
  const cpuBefore = cpuSeconds(pid);
  const subgraphCpuBefore = cpuSeconds(subgraphsPid);
  const machineBefore = machineTicks();
  const redisBefore = await redisUsage();
  const rss = sampleRss(pid);
  const started = process.hrtime.bigint();
  const loadCpuBefore = process.cpuUsage();
  const { result, correctness } = await loadChecked(url, scenario, Number(args.duration), connections, warmup.requests.sent);
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  const loadCpu = process.cpuUsage(loadCpuBefore);
  const errors = result.errors + result.timeouts + result.non2xx;
  const cpu = cpuSeconds(pid) - cpuBefore;
  const subgraphCpu = cpuSeconds(subgraphsPid) - subgraphCpuBefore;
  const machineAfter = machineTicks();
  const peakRss = rss.stop();
  const redisAfter = await redisUsage();
  const perRequest = (seconds: number) => (seconds * 1000) / Math.max(1, result.requests.total);
  let failure: string | undefined;
  if (correctness.wrong > 0) failure = `${correctness.wrong} of ${correctness.checked} answers wrong; first: ${correctness.first ?? ''}`;
  else if (errors > 0) failure = `${errors} errors or timeouts`;
  return {
    round,
    scenario: scenario.name,
    gateway,
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors,
    cpuPercent: (cpu / elapsed) * 100,
    cpuMsPerRequest: perRequest(cpu),
    subgraphCpuMsPerRequest: perRequest(subgraphCpu),
    subgraphCpuPercent: (subgraphCpu / elapsed) * 100,
    machineBusyPercent: (100 * (machineAfter.busy - machineBefore.busy)) / Math.max(1, machineAfter.total - machineBefore.total),
    redisCpuMsPerRequest: perRequest(redisAfter.cpuSeconds - redisBefore.cpuSeconds),
    // perRequest's ms per second is KB per byte.
    redisKbInPerRequest: perRequest((redisAfter.bytesIn - redisBefore.bytesIn) / 1e6),
    loadCpuMsPerRequest: perRequest((loadCpu.user + loadCpu.system) / 1e6),
    peakRssMb: peakRss / 2 ** 20,
    failure,
  };
}

async function benchmark(): Promise<void> {
  const only = args.only?.split(',');
  const scenarioNames = args.scenarios?.split(',');
  const all = args['base-dist'] ? [...GATEWAYS, baseGateway(args['base-dist'])] : GATEWAYS;
  const gateways = all.filter((g) => !only || only.includes(g.name));
  const scenarios = SCENARIOS.filter((s) => !scenarioNames || scenarioNames.includes(s.name));
  const rounds = Number(args.rounds);
  if (!args['skip-build']) buildGateway();
  if (gateways.some((g) => g.name === 'ours-traced')) await startTraceSink();
  const loadBefore = loadavg();
  const subgraphs = await startSubgraphs(mode);
  const supergraph = writeSupergraph(subgraphs.urls);
  const rows: Row[] = [];
  try {
    for (let round = 1; round <= rounds; round++) {
      for (const gateway of round % 2 === 1 ? gateways : [...gateways].reverse()) {
        const port = await freePort();
        const url = `http://127.0.0.1:${port}/graphql`;
        const child = gateway.start(port, supergraph, { tracesEndpoint: sink?.url });
        try {
          await waitForGraphql(url, child);
          for (const scenario of scenarios) {
            if (scenario.rest && !gateway.rest) continue;
            const row = await measure(url, child.pid as number, subgraphs.child.pid as number, scenario, gateway.name, round);
            rows.push(row);
            process.stderr.write(
              `round ${round} ${row.scenario.padEnd(22)} ${row.gateway.padEnd(11)} ` +
                (row.failure
                  ? `FAILED: ${row.failure}\n`
                  : `${row.rps.toFixed(0).padStart(6)} rps  p50 ${row.p50} ms  p99 ${row.p99} ms  CPU ${row.cpuMsPerRequest.toFixed(2)} ms/req (subgraphs ${row.subgraphCpuMsPerRequest.toFixed(2)} at ${row.subgraphCpuPercent.toFixed(0)}% of a core, Redis ${row.redisCpuMsPerRequest.toFixed(2)}, ${row.redisKbInPerRequest.toFixed(1)} KB in, load ${row.loadCpuMsPerRequest.toFixed(2)}; machine ${percent(row.machineBusyPercent)} busy)  RSS ${row.peakRssMb.toFixed(0)} MB\n`),
            );
          }
        } finally {
          await stop(child);
        }
      }
    }
  } finally {
    await stop(subgraphs.child);
  }
  if (sink) process.stderr.write(`trace receiver: ${sink.exports} exports, ${(sink.bytes / 2 ** 20).toFixed(1)} MB\n`);
  report(rows, gateways, scenarios, { rounds, loadBefore, loadAfter: loadavg() });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

interface Summary {
  rps: number;
  p50: number;
  p99: number;
  cpu: number;
  cpuMs: number;
  subgraphCpuMs: number;
  subgraphCpu: number;
  machineBusy: number;
  redisCpuMs: number;
  redisKbIn: number;
  loadCpuMs: number;
  rss: number;
  /** Median over rounds of this round's rps / Apollo's rps (and peak RSS likewise); NaN without Apollo. */
  rpsRatio: number;
  rssRatio: number;
  failure?: string | undefined;
}

function summarise(rows: Row[], scenario: string, gateway: string): Summary | undefined {
  const mine = rows.filter((r) => r.scenario === scenario && r.gateway === gateway);
  if (mine.length === 0) return undefined;
  const failed = mine.find((r) => r.failure);
  const paired = (pick: (r: Row) => number) =>
    median(
      mine.flatMap((r) => {
        const base = rows.find((b) => b.scenario === scenario && b.gateway === 'apollo' && b.round === r.round && !b.failure);
        return base ? [pick(r) / pick(base)] : [];
      }),
    );
  return {
    rps: median(mine.map((r) => r.rps)),
    p50: median(mine.map((r) => r.p50)),
    p99: median(mine.map((r) => r.p99)),
    cpu: median(mine.map((r) => r.cpuPercent)),
    cpuMs: median(mine.map((r) => r.cpuMsPerRequest)),
    subgraphCpuMs: median(mine.map((r) => r.subgraphCpuMsPerRequest)),
    subgraphCpu: median(mine.map((r) => r.subgraphCpuPercent)),
    machineBusy: median(mine.map((r) => r.machineBusyPercent)),
    redisCpuMs: median(mine.map((r) => r.redisCpuMsPerRequest)),
    redisKbIn: median(mine.map((r) => r.redisKbInPerRequest)),
    loadCpuMs: median(mine.map((r) => r.loadCpuMsPerRequest)),
    rss: median(mine.map((r) => r.peakRssMb)),
    rpsRatio: paired((r) => r.rps),
    rssRatio: paired((r) => r.peakRssMb),
    failure: failed ? `round ${failed.round}: ${failed.failure ?? ''}` : undefined,
  };
}

const percent = (value: number) => (Number.isFinite(value) ? `${value.toFixed(0)}%` : 'n/a');
const ratio = (value: number) => (Number.isFinite(value) ? `${value.toFixed(2)}×` : 'n/a');

function report(
  rows: Row[],
  gateways: GatewayUnderTest[],
  scenarios: Scenario[],
  run: { rounds: number; loadBefore: number[]; loadAfter: number[] },
): void {
  const date = new Date().toISOString().slice(0, 10);
  const machine = `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;
  const load = (l: number[]) => l.map((v) => v.toFixed(2)).join(' ');
  const lines = [
    `# Benchmark ${date}`,
    '',
    `Machine: ${machine}; load average ${load(run.loadBefore)} at the start, ${load(run.loadAfter)} at the end. ` +
      `Subgraphs: ${mode === 'compute' ? 'computing every answer' : 'replaying repeated answers from a cache'}. ` +
      `Load: autocannon, ${args.connections} connections, ${args.warmup} s warm-up discarded, ${args.duration} s measured, loopback, ` +
      `${run.rounds} round(s) alternating the gateways' order; figures are medians over rounds, ratios the median of each round's ratio. ` +
      'Every answer was checked against the exact expected data. ' +
      "CPU is the gateway process tree's user+system time over the measured window (100% = one core), and per answered request (steadier than rps on a loaded machine); RSS is its peak during the window. " +
      'The subgraphs and Redis share the machine: their CPU per answered request is the work each gateway makes them do (Redis: its `INFO`, CPU and bytes received, which count every client of that server). So does the load generator, this process: autocannon and the answer checks, per answered request. ' +
      "The three subgraphs run in one process, so its CPU % (100% = one core) near 100 bounds every gateway's rps; machine busy % is every core's busy share over the window (steal included), which near 100 bounds a gateway that is not itself one core flat out.",
    '',
    ...gateways.map((g) => `- **${g.name}**: ${g.description}`),
    '',
  ];
  const summaries = new Map<string, Summary | undefined>();
  for (const scenario of scenarios) {
    lines.push(`## ${scenario.name}: ${scenario.description}`, '');
    if (scenario.rest) lines.push('Only this gateway has a REST passthrough: compare ours with every plugin on to ours with them off.', '');
    lines.push(
      '| gateway | rps | rps vs bare Apollo | p50 ms | p99 ms | CPU % | CPU ms / request | subgraphs CPU ms / request | subgraphs CPU % | Redis CPU ms / request | Redis KB in / request | load generator CPU ms / request | machine busy % | peak RSS MB | RSS vs bare Apollo |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    );
    for (const gateway of gateways) {
      const s = summarise(rows, scenario.name, gateway.name);
      summaries.set(`${scenario.name}/${gateway.name}`, s);
      if (!s) continue;
      if (s.failure) {
        lines.push(`| ${gateway.name} | **FAILED** (${s.failure.replace(/\|/g, '\\|').slice(0, 300)}) | | | | | | | | | | | | | |`);
        continue;
      }
      lines.push(
        `| ${gateway.name} | ${s.rps.toFixed(0)} | ${ratio(s.rpsRatio)} | ${s.p50} | ${s.p99} | ${s.cpu.toFixed(0)} | ${s.cpuMs.toFixed(2)} | ${s.subgraphCpuMs.toFixed(2)} | ${s.subgraphCpu.toFixed(0)} | ${Number.isFinite(s.redisCpuMs) ? s.redisCpuMs.toFixed(2) : 'n/a'} | ${Number.isFinite(s.redisKbIn) ? s.redisKbIn.toFixed(1) : 'n/a'} | ${s.loadCpuMs.toFixed(2)} | ${Number.isFinite(s.machineBusy) ? s.machineBusy.toFixed(0) : 'n/a'} | ${s.rss.toFixed(0)} | ${ratio(s.rssRatio)} |`,
      );
    }
    lines.push('');
  }
  lines.push(...transformCost(summaries, gateways));
  const dir = join(ROOT, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const markdown = lines.join('\n');
  writeFileSync(join(dir, `${date}.md`), markdown);
  writeFileSync(join(dir, 'latest.md'), markdown);
  writeChart(dir, date, summaries, gateways, scenarios, run.loadBefore);
  process.stdout.write(`\n${markdown}\n`);
  if (rows.some((r) => r.failure)) {
    process.stderr.write('FAILURE: a gateway gave wrong answers or errors; its figures are not valid\n');
    process.exitCode = 1;
  }
}

/** The REST routes with and without transforms side by side, per gateway, when both ran. */
function transformCost(summaries: Map<string, Summary | undefined>, gateways: GatewayUnderTest[]): string[] {
  const pairs = gateways.flatMap((gateway) => {
    const plain = summaries.get(`rest-get/${gateway.name}`);
    const transformed = summaries.get(`rest-get-transformed/${gateway.name}`);
    return plain && transformed && !plain.failure && !transformed.failure ? [{ gateway: gateway.name, plain, transformed }] : [];
  });
  if (pairs.length === 0) return [];
  const lines = [
    '## REST transforms against plain forwarding',
    '',
    'The same GET, to the same upstream, in the same run: `rest-get` forwards it as it is; `rest-get-transformed` renames a request',
    'header and a query parameter and reads the JSON answer whole to remove a field (the answer is then sent with a length).',
    "CPU ms per request (the gateway's CPU time over the window / requests served) is the steadier figure on a shared machine.",
    '',
    '| gateway | plain rps | transformed rps | transformed / plain | p50 ms plain → transformed | p99 ms plain → transformed | CPU ms per request plain → transformed |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const { gateway, plain, transformed } of pairs) {
    lines.push(
      `| ${gateway} | ${plain.rps.toFixed(0)} | ${transformed.rps.toFixed(0)} | ${(transformed.rps / plain.rps).toFixed(2)}× | ` +
        `${plain.p50} → ${transformed.p50} | ${plain.p99} → ${transformed.p99} | ${plain.cpuMs.toFixed(2)} → ${transformed.cpuMs.toFixed(2)} |`,
    );
  }
  lines.push('');
  return lines;
}

function writeChart(
  dir: string,
  date: string,
  summaries: Map<string, Summary | undefined>,
  gateways: GatewayUnderTest[],
  scenarios: Scenario[],
  loadAverage: number[],
) {
  const graphql = scenarios.filter((s) => !s.rest);
  const value = (pick: (s: Summary) => number) =>
    graphql.map((scenario) =>
      gateways.map((g) => {
        const s = summaries.get(`${scenario.name}/${g.name}`);
        return s && !s.failure ? pick(s) : Number.NaN;
      }),
    );
  const svg = barChart(
    `Throughput, p99 and memory with every capability on (${date})`,
    `${args.connections} connections, subgraphs ${mode === 'compute' ? 'computing' : 'replaying'}, ${args.rounds} round(s), medians; ${cpus().length} cores, load average ${loadAverage[0]?.toFixed(1) ?? '?'} at the start`,
    graphql.map((s) => s.name),
    gateways.map((g) => g.name),
    [
      {
        title: 'rps, as a ratio to bare Apollo in the same round (higher is better)',
        format: (v) => `${v.toFixed(2)}×`,
        reference: 1,
        values: value((s) => s.rpsRatio),
      },
      { title: 'p99 latency, ms (lower is better)', format: (v) => v.toFixed(0), values: value((s) => s.p99) },
      { title: 'peak RSS, MB (lower is better)', format: (v) => v.toFixed(0), values: value((s) => s.rss) },
    ],
  );
  writeFileSync(join(dir, `${date}.svg`), svg);
  writeFileSync(join(dir, 'latest.svg'), svg);
}

async function soak(): Promise<void> {
  const duration = Number(args.duration === '15' ? '600' : args.duration);
  const rate = Number(args.rate);
  if (!args['skip-build']) buildGateway();
  const subgraphs = await startSubgraphs(mode);
  const supergraph = writeSupergraph(subgraphs.urls);
  const gateway = args['base-dist'] ? baseGateway(args['base-dist']) : (GATEWAYS.find((g) => g.name === 'ours-full') as GatewayUnderTest);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/graphql`;
  const child = gateway.start(port, supergraph, {});
  try {
    await waitForGraphql(url, child);
    const scenario = SCENARIOS.find((s) => s.name === 'cross-subgraph-varied') as Scenario;
    // Caches and the V8 heap grow to their working size first; a single RSS reading is one point
    // of a GC sawtooth, so the verdict compares the medians of the first and the last minute.
    const warmup = await load(url, scenario, Math.max(30, Number(args.warmup)), Number(args.connections), { overallRate: rate });
    const samples: number[] = [];
    const sampler = setInterval(() => samples.push(rssBytes(child.pid as number)), 5_000);
    const [cpuBefore, redisBefore] = [cpuSeconds(child.pid as number), await redisUsage()];
    const result = await load(url, scenario, duration, Number(args.connections), { overallRate: rate }, warmup.requests.sent);
    const perRequest = (seconds: number) => ((seconds * 1000) / Math.max(1, result.requests.total)).toFixed(2);
    const redisAfter = await redisUsage();
    const cpu =
      `gateway CPU ${perRequest(cpuSeconds(child.pid as number) - cpuBefore)} ms per request; Redis CPU ` +
      `${perRequest(redisAfter.cpuSeconds - redisBefore.cpuSeconds)} ms and ${perRequest((redisAfter.bytesIn - redisBefore.bytesIn) / 1e6)} KB in per request`;
    clearInterval(sampler);
    const window = Math.min(12, Math.floor(samples.length / 2));
    const start = median(samples.slice(0, window));
    const end = median(samples.slice(-window));
    const growth = ((end - start) / start) * 100;
    const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MB`;
    const perMinute = samples.filter((_, i) => i % 12 === 11).map(mb);
    process.stdout.write(
      `soak (${gateway.name}): ${duration} s at ${rate} req/s on ${scenario.name} (subgraphs ${mode}): ${result.requests.total} requests, ` +
        `${result.errors + result.non2xx + result.timeouts} errors, RSS median of the first minute ${mb(start)} → last minute ${mb(end)} ` +
        `(${growth >= 0 ? '+' : ''}${growth.toFixed(1)}%; min ${mb(Math.min(...samples))}, max ${mb(Math.max(...samples))})\n` +
        `RSS at the end of each minute: ${perMinute.join(', ')}\n${cpu}\n` +
        `verdict: ${growth > 10 ? 'GROWTH (more than 10%): look for a leak' : 'no growth (within 10%)'}\n`,
    );
    if (growth > 10 || result.errors + result.non2xx + result.timeouts > 0) process.exitCode = 1;
  } finally {
    await stop(child);
    await stop(subgraphs.child);
  }
}

await (args.soak ? soak() : benchmark());
