/**
 * `npm run bench:chaos`: what clients see while one subgraph misbehaves.
 *
 * The thin demo subgraphs (bench/resilience-subgraphs.ts, a child process) with products behind a
 * fault proxy (test/helpers/fault-proxy.ts, in this process), and the gateway with its defaults in
 * its own process, started as production runs it: built first (`npm run build`; BENCH_SKIP_BUILD=1
 * skips it) and run as `node dist/gateway/src/main.js` with NODE_ENV=production. CLIENTS closed-loop clients (an undici Pool, loopback, one request at a time
 * each, a client timeout of CLIENT_TIMEOUT_MS) send the users → orders → products query, either
 * the same one for user-1 (`identical`) or rotating over 100 users (`varied`), while products goes
 * through the phases: normal, hang, normal, down, normal, 500, normal, slow (2 s), normal, each
 * PHASE_MS long. Each workload gets a fresh gateway whose fallback cache is warmed first (every
 * query of the workload once, while products is healthy).
 *
 * Per phase: rps; p50 and p99 over every request that started in it (a client timeout counts as
 * CLIENT_TIMEOUT_MS); the share of answers with full data (200, no `errors`); the fallbacks used by
 * source and reason (from `extensions.fallbacks`); the calls reaching products per second (counted
 * by the proxy); and, for a normal phase after a fault, how long after the switch back the first
 * answer with live products data (product data in it, and no products fallback) came; and the
 * gateway's CPU time per request, which says whether an answer from the fallbacks costs the gateway
 * more or less than a live one, whatever the other processes on the machine take.
 *
 * Env: BENCH_PHASE_MS (10000), BENCH_CLIENTS (20), BENCH_CLIENT_TIMEOUT_MS (10000), BENCH_WORKLOADS
 * (`identical,varied`: which workloads run, in that order), BENCH_PHASES (the phases above: which
 * run, in that order, e.g. `normal,down,normal` to study one fault).
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import type { GatewayConfigInput } from '../gateway/src/config/index.js';
import { startFaultProxy, type FaultMode, type FaultProxy } from '../test/helpers/fault-proxy.js';
import { buildGateway, spawnBuiltGateway } from './gateways.js';
import { freePort, REQUEST_HEADERS, startChild, stop, USER_ORDERS_QUERY as QUERY, waitForGraphql } from './harness.js';
import { cpuSeconds } from './process-stats.js';

const PHASE_MS = Number(process.env.BENCH_PHASE_MS ?? 10_000);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 20);
const CLIENT_TIMEOUT_MS = Number(process.env.BENCH_CLIENT_TIMEOUT_MS ?? 10_000);

type Workload = 'identical' | 'varied';
type PhaseName = 'normal' | 'hang' | 'down' | '500' | 'slow';
const ALL_PHASES: PhaseName[] = ['normal', 'hang', 'normal', 'down', 'normal', '500', 'normal', 'slow', 'normal'];
const PHASES: PhaseName[] = process.env.BENCH_PHASES
  ? process.env.BENCH_PHASES.split(',').map((name) => {
      if (!ALL_PHASES.includes(name as PhaseName)) throw new Error(`BENCH_PHASES: unknown phase ${name} (one of ${ALL_PHASES.join(', ')})`);
      return name as PhaseName;
    })
  : ALL_PHASES;

interface Sample {
  started: number;
  ended: number;
  full: boolean;
  timedOut: boolean;
  /** `source:reason` of each products fallback entry. */
  fallbacks: string[];
  /** Why an answer is not full data: `timeout`, the HTTP status, or the first error's code. */
  notFull?: string | undefined;
  /** The answer holds product data (some users' orders have none: their answers say nothing of products). */
  products: boolean;
}

interface PhaseResult {
  name: PhaseName;
  rps: number;
  p50: number;
  p99: number;
  fullShare: number;
  fallbacks: Record<string, number>;
  /** Answers without full data, by {@link Sample.notFull}. */
  notFull: Record<string, number>;
  productsCallsPerSecond: number;
  /** The gateway process's CPU time (user+system) over the phase, per request that started in it. */
  gatewayCpuMsPerRequest: number;
  /** The products breaker's changes during the phase, e.g. `open 1, half_open 1` (from the gateway's metrics). */
  breaker: Record<string, number>;
  /** ms from the phase's start to the end of the first answer with live products data; normal phases after a fault. */
  liveAgainMs?: number | undefined;
}

const body = (workload: Workload, n: number) =>
  JSON.stringify({
    query: QUERY,
    variables: { id: workload === 'identical' ? 'user-1' : `user-${(n % 100) + 1}` },
    operationName: 'UserOrders',
  });

async function send(pool: Pool, payload: string): Promise<Sample> {
  const started = performance.now();
  try {
    const response = await pool.request({
      path: '/graphql',
      method: 'POST',
      headers: REQUEST_HEADERS,
      body: payload,
      headersTimeout: CLIENT_TIMEOUT_MS,
      bodyTimeout: CLIENT_TIMEOUT_MS,
    });
    const text = await response.body.text();
    const parsed = JSON.parse(text) as {
      errors?: { extensions?: { code?: string } }[];
      extensions?: { fallbacks?: { subgraph: string; source: string; reason: string }[] };
    };
    const fallbacks = (parsed.extensions?.fallbacks ?? []).filter((f) => f.subgraph === 'products').map((f) => `${f.source}:${f.reason}`);
    const full = response.statusCode === 200 && !parsed.errors;
    const notFull = full ? undefined : `${response.statusCode} ${parsed.errors?.[0]?.extensions?.code ?? ''}`.trim();
    return { started, ended: performance.now(), full, timedOut: false, fallbacks, notFull, products: text.includes('"product":{') };
  } catch {
    return { started, ended: started + CLIENT_TIMEOUT_MS, full: false, timedOut: true, fallbacks: [], notFull: 'timeout', products: false };
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

const MODES: Record<Exclude<PhaseName, 'normal' | 'down'>, FaultMode> = {
  hang: { kind: 'slow', ms: 600_000 },
  '500': { kind: 'status', status: 500 },
  slow: { kind: 'slow', ms: 2_000 },
};

async function setPhase(proxy: FaultProxy, phase: PhaseName): Promise<void> {
  if (phase === 'down') return proxy.kill();
  await proxy.revive();
  proxy.mode = phase === 'normal' ? { kind: 'pass' } : MODES[phase];
}

/** The products breaker's state changes so far, by new state (`gateway_circuit_breaker_transitions_total`). */
async function breakerChanges(gatewayUrl: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${gatewayUrl}/metrics`)).text();
  const counts: Record<string, number> = {};
  for (const [, state, value] of text.matchAll(
    /^gateway_circuit_breaker_transitions_total\{[^}]*breaker="products"[^}]*state="(\w+)"[^}]*\} (\d+)/gm,
  )) {
    counts[state as string] = (counts[state as string] ?? 0) + Number(value);
  }
  return counts;
}

/** The gateway process's CPU time so far (user + system, from /proc), in ms. */
function gatewayCpuMs(child: ChildProcess): number {
  return cpuSeconds(child.pid as number) * 1000;
}

/** The built gateway with `config` (plus a port of its own and logging at warn), answering GraphQL. */
async function startGateway(config: GatewayConfigInput): Promise<{ child: ChildProcess; url: string }> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'bench-chaos-'));
  const file = join(dir, 'gateway.json');
  const settings = { ...config, server: { host: '127.0.0.1', port }, logging: { level: 'warn' }, metrics: { defaultMetrics: false } };
  writeFileSync(file, JSON.stringify(settings));
  // Only what the run needs from the environment: the gateway's own variables (REDIS_URL, GATEWAY_*
  // …) of the shell would change the run. NODE_OPTIONS passes through (e.g. a profiler preload).
  const child = spawnBuiltGateway(file, { env: { PATH: process.env.PATH, NODE_OPTIONS: process.env.NODE_OPTIONS } });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForGraphql(`${url}/graphql`, child);
  } catch (error) {
    await stop(child);
    throw error;
  } finally {
    // The gateway read its config at start-up.
    rmSync(dir, { recursive: true, force: true });
  }
  return { child, url };
}

async function runWorkload(workload: Workload, urls: Record<string, string>, proxy: FaultProxy): Promise<PhaseResult[]> {
  const config: GatewayConfigInput = {
    supergraph: { path: 'schema/supergraph.graphql', watch: false },
    auth: { jwt: { issuers: [{ issuer: 'bench', audience: 'bench', algorithms: ['HS256'], secretEnv: 'BENCH_JWT_SECRET' }] } },
    subgraphs: { users: { url: urls.users }, orders: { url: urls.orders }, products: { url: proxy.url } },
    // One token stands for all the clients: its budget would answer 429 once throughput rises (as
    // it does when answers come from the cache), which is not what this benchmark measures.
    rateLimit: { enabled: false },
  };
  const { child, url } = await startGateway(config);
  const pool = new Pool(url, { connections: CLIENTS, pipelining: 1 });
  try {
    // Warm-up: every query of the workload answered live once (the copies the faults will need), then a short run.
    for (let n = 0; n < (workload === 'identical' ? 1 : 100); n++) await send(pool, body(workload, n));
    await new Promise((resolve) => setTimeout(resolve, 1_100)); // past fallback.refreshAfterMs
    const samples: Sample[] = [];
    const starts: number[] = [];
    const hits: number[] = [];
    const changes: Record<string, number>[] = [];
    const cpu: number[] = [];
    let counter = 0;
    let running = true;
    const client = async () => {
      while (running) samples.push(await send(pool, body(workload, counter++)));
    };
    const clients = Array.from({ length: CLIENTS }, client);
    for (const phase of PHASES) {
      // Counters first, then the switch: what the new fault causes is counted in its own phase.
      hits.push(proxy.hits);
      changes.push(await breakerChanges(url));
      cpu.push(gatewayCpuMs(child));
      await setPhase(proxy, phase);
      starts.push(performance.now());
      process.stderr.write(`${workload}: ${phase}\n`);
      await new Promise((resolve) => setTimeout(resolve, PHASE_MS));
    }
    starts.push(performance.now());
    hits.push(proxy.hits);
    changes.push(await breakerChanges(url));
    cpu.push(gatewayCpuMs(child));
    running = false;
    await Promise.all(clients);
    await setPhase(proxy, 'normal');
    return PHASES.map((name, i) => {
      const from = starts[i] as number;
      const to = starts[i + 1] as number;
      const inPhase = samples.filter((s) => s.started >= from && s.started < to);
      const sorted = inPhase.map((s) => s.ended - s.started).sort((a, b) => a - b);
      const fallbacks: Record<string, number> = {};
      const notFull: Record<string, number> = {};
      for (const sample of inPhase) {
        for (const f of sample.fallbacks) fallbacks[f] = (fallbacks[f] ?? 0) + 1;
        if (sample.notFull) notFull[sample.notFull] = (notFull[sample.notFull] ?? 0) + 1;
      }
      const afterFault = i > 0 && name === 'normal';
      const live = afterFault
        ? inPhase.filter((s) => s.full && s.products && s.fallbacks.length === 0).sort((a, b) => a.ended - b.ended)[0]
        : undefined;
      return {
        name,
        rps: inPhase.length / ((to - from) / 1000),
        p50: percentile(sorted, 50),
        p99: percentile(sorted, 99),
        fullShare: inPhase.length ? inPhase.filter((s) => s.full).length / inPhase.length : 0,
        fallbacks,
        notFull,
        breaker: Object.fromEntries(
          Object.entries(changes[i + 1] ?? {})
            .map(([state, n]) => [state, n - (changes[i]?.[state] ?? 0)])
            .filter(([, n]) => (n as number) > 0),
        ) as Record<string, number>,
        productsCallsPerSecond: ((hits[i + 1] as number) - (hits[i] as number)) / ((to - from) / 1000),
        gatewayCpuMsPerRequest: ((cpu[i + 1] as number) - (cpu[i] as number)) / Math.max(1, inPhase.length),
        liveAgainMs: live ? live.ended - from : afterFault ? Number.NaN : undefined,
      };
    });
  } finally {
    await pool.close();
    await stop(child);
  }
}

if (process.env.BENCH_SKIP_BUILD !== '1') buildGateway();
const { child: subgraphs, info: urls } = await startChild<Record<string, string>>('bench/resilience-subgraphs.ts');
const proxy = await startFaultProxy(urls.products as string);
const results: [Workload, PhaseResult[]][] = [];
try {
  const workloads = (process.env.BENCH_WORKLOADS ?? 'identical,varied')
    .split(',')
    .filter((w): w is Workload => w === 'identical' || w === 'varied');
  for (const workload of workloads) results.push([workload, await runWorkload(workload, urls, proxy)]);
} finally {
  await proxy.close();
  await stop(subgraphs);
}

console.log(
  `\n${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'}), Node ${process.version}; ${CLIENTS} clients, ${PHASE_MS / 1000} s per phase, client timeout ${CLIENT_TIMEOUT_MS / 1000} s, gateway defaults, production build\n`,
);
console.log(
  '| workload | phase | rps | gateway CPU ms / request | p50 ms | p99 ms | full data | not full (status code) | products fallbacks (source:reason) | calls to products / s | products breaker changes | live again after |',
);
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (const [workload, phases] of results) {
  for (const p of phases) {
    const tally = (counts: Record<string, number>) =>
      Object.entries(counts)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ') || '—';
    const fallbacks = tally(p.fallbacks);
    const liveAgain = p.liveAgainMs === undefined ? '' : Number.isNaN(p.liveAgainMs) ? 'never' : `${(p.liveAgainMs / 1000).toFixed(1)} s`;
    console.log(
      `| ${workload} | ${p.name} | ${p.rps.toFixed(0)} | ${p.gatewayCpuMsPerRequest.toFixed(2)} | ${p.p50.toFixed(0)} | ${p.p99.toFixed(0)} | ${(p.fullShare * 100).toFixed(1)}% | ${tally(p.notFull)} | ${fallbacks} | ${p.productsCallsPerSecond.toFixed(1)} | ${tally(p.breaker)} | ${liveAgain} |`,
    );
  }
}
