/**
 * `npm run bench:resilience`: the cost of the resilience layer, in one run, side by side.
 *
 * The same gateway (each variant in its own process) in front of the same thin subgraphs (another
 * process), driven from this process by an undici Pool with CONCURRENCY requests in flight for
 * DURATION_MS after a discarded warm-up. Variants: resilience off (`resilience.enabled: false`),
 * on with defaults, on without in-flight dedupe, and on with each subgraph as three replicas of the
 * same server (the balancer, per-replica breakers and health checks, and nothing else, differ). Each variant runs ROUNDS times, in alternating
 * order, and the figures are the medians over rounds, with the range of rps (a busy machine drifts;
 * alternating spreads the drift and the range shows it).
 *
 * Workloads: the README's users → orders → products query, rotating over 100 user ids ("varied"),
 * and the same query for one user from every client ("hot": identical concurrent subgraph calls,
 * where in-flight dedupe has something to merge).
 * Env: BENCH_DURATION_MS (default 10000), BENCH_WARMUP_MS (2000), BENCH_CONCURRENCY (50), BENCH_ROUNDS (3).
 */
import type { ChildProcess } from 'node:child_process';
import { cpus } from 'node:os';
import { Pool } from 'undici';
import type { GatewayConfigInput } from '../gateway/src/config/index.js';
import { REQUEST_HEADERS, startChild, stop, USER_ORDERS_QUERY as QUERY } from './harness.js';

const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 10_000);
const WARMUP_MS = Number(process.env.BENCH_WARMUP_MS ?? 2_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 50);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

type Workload = 'varied' | 'hot';
const WORKLOADS: Workload[] = ['varied', 'hot'];

interface Variant {
  name: string;
  config: GatewayConfigInput;
  /** Each subgraph as this many replicas (`upstreams`) of the same server (`?replica=i` tells them apart): the balancer's own cost. */
  replicas?: number;
}

const VARIANTS: Variant[] = [
  { name: 'resilience off', config: { resilience: { enabled: false } } },
  { name: 'resilience on (defaults)', config: {} },
  { name: 'resilience on, dedupe off', config: { resilience: { subgraphDefaults: { dedupe: false } } } },
  { name: 'resilience on, 3 replicas per subgraph (round robin)', config: {}, replicas: 3 },
];

interface Measure {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  subgraphCallsPerRequest: number;
  /** CPU time (user + system) of the gateway process per measured request, in ms. */
  cpuMsPerRequest: number;
}

/** The child's CPU time so far (user + system), in µs. */
function cpuOf(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    child.once('message', (usage: NodeJS.CpuUsage) => resolve(usage.user + usage.system));
    child.send('cpu');
  });
}

async function subgraphCalls(urls: Record<string, string>): Promise<number> {
  const counts = await Promise.all(
    Object.values(urls).map(async (url) => ((await (await fetch(new URL('/stats', url))).json()) as { requests: number }).requests),
  );
  return counts.reduce((a, b) => a + b, 0);
}

/** CONCURRENCY loops, each sending one request at a time, until `until`; latencies after `measureFrom`. */
async function load(url: string, workload: Workload, measureFrom: number, until: number) {
  const pool = new Pool(url, { connections: CONCURRENCY, pipelining: 1 });
  const latencies: number[] = [];
  let errors = 0;
  let counter = 0;
  const worker = async () => {
    while (Date.now() < until) {
      const id = workload === 'hot' ? 'user-1' : `user-${(counter++ % 100) + 1}`;
      const started = performance.now();
      const response = await pool.request({
        path: '/graphql',
        method: 'POST',
        // The bench token (orders:read:all): `user.orders` is refused to anonymous callers.
        headers: REQUEST_HEADERS,
        body: JSON.stringify({ query: QUERY, variables: { id }, operationName: 'UserOrders' }),
      });
      const text = await response.body.text();
      const ended = performance.now();
      if (Date.now() < measureFrom) continue;
      if (response.statusCode !== 200 || text.includes('"errors"')) errors++;
      latencies.push(ended - started);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  await pool.close();
  return { latencies, errors };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

async function run(variant: Variant, workload: Workload, subgraphUrls: Record<string, string>): Promise<Measure> {
  const config: GatewayConfigInput = {
    ...variant.config,
    supergraph: { path: 'schema/supergraph.graphql', watch: false },
    auth: { jwt: { issuers: [{ issuer: 'bench', audience: 'bench', algorithms: ['HS256'], secretEnv: 'BENCH_JWT_SECRET' }] } },
    subgraphs: Object.fromEntries(
      Object.entries(subgraphUrls).map(([name, url]) => [
        name,
        variant.replicas ? { upstreams: Array.from({ length: variant.replicas }, (_, i) => ({ url: `${url}?replica=${i}` })) } : { url },
      ]),
    ),
  };
  const { child, info } = await startChild<{ url: string }>('bench/resilience-gateway.ts', [JSON.stringify(config)]);
  try {
    const start = Date.now();
    const measureFrom = start + WARMUP_MS;
    const until = measureFrom + DURATION_MS;
    let callsAtMeasureStart = 0;
    let cpuAtMeasureStart = 0;
    const marker = setTimeout(() => {
      void subgraphCalls(subgraphUrls).then((n) => (callsAtMeasureStart = n));
      void cpuOf(child).then((us) => (cpuAtMeasureStart = us));
    }, WARMUP_MS);
    const { latencies, errors } = await load(info.url, workload, measureFrom, until);
    clearTimeout(marker);
    const calls = (await subgraphCalls(subgraphUrls)) - callsAtMeasureStart;
    const cpuUs = (await cpuOf(child)) - cpuAtMeasureStart;
    const sorted = latencies.sort((a, b) => a - b);
    return {
      rps: latencies.length / (DURATION_MS / 1000),
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      errors,
      subgraphCallsPerRequest: latencies.length ? calls / latencies.length : 0,
      cpuMsPerRequest: latencies.length ? cpuUs / 1000 / latencies.length : 0,
    };
  } finally {
    await stop(child);
  }
}

const { child: subgraphs, info: subgraphUrls } = await startChild<Record<string, string>>('bench/resilience-subgraphs.ts');
const key = (workload: Workload, variant: Variant) => `${workload}\n${variant.name}`;
const results = new Map<string, Measure[]>();
try {
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? VARIANTS : [...VARIANTS].reverse();
    for (const workload of WORKLOADS) {
      for (const variant of order) {
        const measure = await run(variant, workload, subgraphUrls);
        results.set(key(workload, variant), [...(results.get(key(workload, variant)) ?? []), measure]);
        process.stderr.write(
          `round ${round + 1} ${workload} ${variant.name}: ${measure.rps.toFixed(0)} rps, p50 ${measure.p50.toFixed(1)} ms, p99 ${measure.p99.toFixed(1)} ms, ${measure.errors} errors, ${measure.cpuMsPerRequest.toFixed(3)} CPU ms/request\n`,
        );
      }
    }
  }
} finally {
  await stop(subgraphs);
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
};
console.log(
  `\n${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'}), Node ${process.version}; ${CONCURRENCY} in flight, ${DURATION_MS / 1000} s measured after ${WARMUP_MS / 1000} s warm-up, ${ROUNDS} round(s), medians over rounds\n`,
);
console.log(
  '| workload | variant | rps | rps range | vs off | gateway CPU ms / request | vs off | p50 ms | p99 ms | errors | subgraph calls / request |',
);
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (const workload of WORKLOADS) {
  const baseline = median((results.get(key(workload, VARIANTS[0]!)) ?? []).map((m) => m.rps));
  const baselineCpu = median((results.get(key(workload, VARIANTS[0]!)) ?? []).map((m) => m.cpuMsPerRequest));
  const change = (value: number, base: number) => (base ? `${(((value - base) / base) * 100).toFixed(1)}%` : '—');
  for (const variant of VARIANTS) {
    const measures = results.get(key(workload, variant)) ?? [];
    const rpsAll = measures.map((m) => m.rps);
    const rps = median(rpsAll);
    const cpu = median(measures.map((m) => m.cpuMsPerRequest));
    console.log(
      `| ${workload} | ${variant.name} | ${rps.toFixed(0)} | ${Math.min(...rpsAll).toFixed(0)}–${Math.max(...rpsAll).toFixed(0)} | ${change(rps, baseline)} | ${cpu.toFixed(3)} | ${change(cpu, baselineCpu)} | ${median(measures.map((m) => m.p50)).toFixed(1)} | ${median(measures.map((m) => m.p99)).toFixed(1)} | ${measures.reduce((a, m) => a + m.errors, 0)} | ${median(measures.map((m) => m.subgraphCallsPerRequest)).toFixed(2)} |`,
    );
  }
}
