/**
 * `npm run bench:hedging`: what hedging across replicas does to a latency tail, and what it costs.
 *
 * The thin demo subgraphs (bench/resilience-subgraphs.ts, a child process), with products served
 * as two replicas: two fault proxies (test/helpers/fault-proxy.ts, in this process) in front of the
 * one products server, each delaying every TAIL_EVERY-th request by TAIL_MS (a latency tail on
 * every replica, as a GC pause or a noisy neighbour makes). For each variant, a fresh gateway in its
 * own process (rate limiting and the response cache off, so every request makes its products call),
 * and CLIENTS closed-loop clients sending the users → orders → products query for 100 users in turn
 * for BENCH_DURATION_MS, after a warm-up. The variants run in turn, BENCH_ROUNDS times (the machine's
 * load drifts; alternating spreads it over all of them). Per variant, the median over the rounds
 * of: rps, p50/p95/p99, products calls per request (counted at the proxies: the extra load), hedges
 * sent and won (the gateway's metrics).
 *
 * Env: BENCH_DURATION_MS (8000), BENCH_ROUNDS (3), BENCH_CLIENTS (20), BENCH_TAIL_EVERY (50), BENCH_TAIL_MS (300).
 */
import { cpus } from 'node:os';
import { Pool } from 'undici';
import type { GatewayConfigInput } from '../gateway/src/config/index.js';
import { startFaultProxy, type FaultProxy } from '../test/helpers/fault-proxy.js';
import { REQUEST_HEADERS, startChild, stop, USER_ORDERS_QUERY as QUERY } from './harness.js';

const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 8_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 20);
const TAIL_EVERY = Number(process.env.BENCH_TAIL_EVERY ?? 50);
const TAIL_MS = Number(process.env.BENCH_TAIL_MS ?? 300);

type Hedging = NonNullable<NonNullable<NonNullable<GatewayConfigInput['subgraphs']>[string]>['hedging']>;
const VARIANTS: [string, Hedging][] = [
  ['off', { enabled: false }],
  ['adaptive p95 (defaults)', { enabled: true }],
  ['fixed 50 ms, budget 10%', { enabled: true, adaptive: false, delayMs: 50 }],
];

interface Result {
  rps: number;
  p50: number;
  p95: number;
  p99: number;
  errors: number;
  callsPerRequest: number;
  hedges: number;
  won: number;
}

const body = (n: number) => JSON.stringify({ query: QUERY, variables: { id: `user-${(n % 100) + 1}` }, operationName: 'UserOrders' });

async function metric(gatewayUrl: string, name: string): Promise<number> {
  const text = await (await fetch(`${gatewayUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes('subgraph="products"'));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

const productCalls = (proxies: FaultProxy[]) =>
  proxies.reduce((sum, proxy) => sum + proxy.requests.filter((r) => r.body.includes('_entities')).length, 0);

async function runVariant(hedging: Hedging, urls: Record<string, string>, proxies: FaultProxy[]): Promise<Result> {
  const config: GatewayConfigInput = {
    supergraph: { path: 'schema/supergraph.graphql', watch: false },
    auth: { jwt: { issuers: [{ issuer: 'bench', audience: 'bench', algorithms: ['HS256'], secretEnv: 'BENCH_JWT_SECRET' }] } },
    rateLimit: { enabled: false },
    responseCache: { enabled: false },
    subgraphs: {
      users: { url: urls.users },
      orders: { url: urls.orders },
      products: { upstreams: proxies.map((proxy) => ({ url: proxy.url })), hedging },
    },
  };
  const { child, info } = await startChild<{ url: string }>('bench/resilience-gateway.ts', [JSON.stringify(config)]);
  const pool = new Pool(info.url, { connections: CLIENTS, pipelining: 1 });
  try {
    let counter = 0;
    const loop = async (until: number, latencies: number[] | undefined, failures: { n: number }) => {
      while (performance.now() < until) {
        const started = performance.now();
        const response = await pool.request({ path: '/graphql', method: 'POST', headers: REQUEST_HEADERS, body: body(counter++) });
        const parsed = (await response.body.json()) as { errors?: unknown[] };
        if (response.statusCode !== 200 || parsed.errors) failures.n++;
        latencies?.push(performance.now() - started);
      }
    };
    // Warm-up: connections, JIT, and the adaptive delay's first minute of samples.
    await Promise.all(Array.from({ length: CLIENTS }, () => loop(performance.now() + 3_000, undefined, { n: 0 })));
    for (const proxy of proxies) proxy.resetCounters();
    const [hedgesBefore, wonBefore] = [
      await metric(info.url, 'gateway_subgraph_hedges_total'),
      await metric(info.url, 'gateway_subgraph_hedges_won_total'),
    ];
    const latencies: number[] = [];
    const failures = { n: 0 };
    const started = performance.now();
    await Promise.all(Array.from({ length: CLIENTS }, () => loop(started + DURATION_MS, latencies, failures)));
    const elapsed = performance.now() - started;
    latencies.sort((a, b) => a - b);
    const at = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? 0;
    return {
      rps: latencies.length / (elapsed / 1000),
      p50: at(50),
      p95: at(95),
      p99: at(99),
      errors: failures.n,
      callsPerRequest: productCalls(proxies) / latencies.length,
      hedges: (await metric(info.url, 'gateway_subgraph_hedges_total')) - hedgesBefore,
      won: (await metric(info.url, 'gateway_subgraph_hedges_won_total')) - wonBefore,
    };
  } finally {
    await pool.close();
    await stop(child);
  }
}

const { child: subgraphs, info: urls } = await startChild<Record<string, string>>('bench/resilience-subgraphs.ts');
const proxies = [await startFaultProxy(urls.products as string), await startFaultProxy(urls.products as string)];
for (const proxy of proxies) proxy.mode = { kind: 'tail', every: TAIL_EVERY, ms: TAIL_MS };
const rounds = new Map<string, Result[]>(VARIANTS.map(([name]) => [name, []]));
try {
  for (let round = 1; round <= ROUNDS; round++) {
    for (const [name, hedging] of VARIANTS) {
      process.stderr.write(`round ${round}: hedging ${name}\n`);
      rounds.get(name)?.push(await runVariant(hedging, urls, proxies));
    }
  }
} finally {
  await Promise.all(proxies.map((proxy) => proxy.close()));
  await stop(subgraphs);
}

console.log(
  `\n${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'}), Node ${process.version}; ${CLIENTS} clients, ${DURATION_MS / 1000} s per variant and round, ` +
    `medians of ${ROUNDS} rounds; ` +
    `products: 2 replicas, each delaying every ${TAIL_EVERY}th request by ${TAIL_MS} ms\n`,
);
console.log('| hedging | rps | p50 ms | p95 ms | p99 ms | errors | products calls / request | hedges | hedges won |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
for (const [name, runs] of rounds) {
  const r = Object.fromEntries(
    (Object.keys(runs[0] ?? {}) as (keyof Result)[]).map((key) => [key, median(runs.map((run) => run[key]))]),
  ) as unknown as Result;
  console.log(
    `| ${name} | ${r.rps.toFixed(0)} | ${r.p50.toFixed(0)} | ${r.p95.toFixed(0)} | ${r.p99.toFixed(0)} | ${r.errors} | ${r.callsPerRequest.toFixed(3)} | ${r.hedges} | ${r.won} |`,
  );
}
