import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { parse } from 'graphql';
import { stringify } from 'yaml';
import { CostEstimateCache } from '../gateway/src/cost/cache.js';
import { estimateCost } from '../gateway/src/cost/estimate.js';
import { costModelFromSdl } from '../gateway/src/cost/model.js';
import { applyCostOverrides, readCostOverrides } from '../gateway/src/cost/overrides.js';
import { apiSchemaFromSupergraph } from '../gateway/src/supergraph/api-schema.js';
import { ROOT, freePort, load, startSubgraphs, stop, tsx, waitForGraphql, writeSupergraph } from './harness.js';
import { SCENARIOS, type Scenario } from './scenarios.js';

/**
 * `npm run bench:cost`: (1) the cost estimator in this process, on the benchmark's cross-subgraph
 * operation, uncached (a full analysis each time) and cached (the gateway's path for a repeated
 * operation); (2) our gateway on thin subgraphs, each configuration in its own process under the
 * same autocannon load: cost analysis and rate limiting off, cost analysis with the in-memory
 * budget, and with the budget in Redis (REDIS_URL, default redis://127.0.0.1:6379).
 *
 * Options: --duration S (measured per round, default 5), --warmup S (default 3), --connections N (default 50),
 * --rounds N (default 3, medians reported), --scenario NAME (default one-subgraph; see bench/scenarios.ts).
 */
const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '3' },
    connections: { type: 'string', default: '50' },
    scenario: { type: 'string', default: 'one-subgraph' },
  },
});
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

function estimatorBench(): { name: string; opsPerSecond: number }[] {
  const sdl = readFileSync(join(ROOT, 'schema/supergraph.graphql'), 'utf8');
  const schema = apiSchemaFromSupergraph(sdl);
  const model = applyCostOverrides(costModelFromSdl(parse(sdl)), readCostOverrides(join(ROOT, 'schema/costs.yaml')), schema);
  const scenario = SCENARIOS.find((s) => s.name === 'cross-subgraph') as Scenario;
  const { query } = JSON.parse(scenario.body(0)) as { query: string };
  const document = parse(query);
  const estimate = (variables: Record<string, unknown>) => estimateCost(schema, model, document, { variables, defaultListSize: 10 });
  const cache = new CostEstimateCache(schema, model);
  const measure = (name: string, run: (i: number) => void) => {
    for (let i = 0; i < 2_000; i++) run(i); // warm-up
    let count = 0;
    const started = process.hrtime.bigint();
    const deadline = started + 2_000_000_000n;
    while (process.hrtime.bigint() < deadline) {
      for (let i = 0; i < 200; i++) run(count++);
    }
    return { name, opsPerSecond: count / (Number(process.hrtime.bigint() - started) / 1e9) };
  };
  return [
    measure('estimate, uncached (full analysis)', (i) => estimate({ after: `c${i}` })),
    // A different cursor on every call: cursors cannot change the cost, so every call is a hit.
    measure('estimate, cached (by document + cost-relevant variables)', (i) =>
      cache.get('q', document, undefined, { after: `c${i}` }, () => estimate({ after: `c${i}` })),
    ),
  ];
}

interface GatewayRow {
  name: string;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

const BENCH_TIER = {
  maxCost: 100_000,
  maxDepth: 20,
  maxAliases: 100,
  maxRootFields: 50,
  // One bench principal: a budget it cannot spend, so the figures are the cost of charging, not 429s.
  limits: [{ name: 'burst', kind: 'token_bucket', capacity: 1_000_000_000, refillPerSecond: 100_000_000 }],
};

const CONFIGS: { name: string; config: Record<string, unknown> }[] = [
  { name: 'cost and rate limiting off', config: { cost: { enabled: false }, rateLimit: { enabled: false } } },
  {
    name: 'cost analysis, budget in memory',
    config: { rateLimit: { store: 'memory', defaultTier: 'bench', tiers: { bench: BENCH_TIER } } },
  },
  {
    name: 'cost analysis, budget in Redis',
    config: {
      redis: { url: REDIS_URL, keyPrefix: 'bench-cost:' },
      rateLimit: { store: 'redis', defaultTier: 'bench', tiers: { bench: BENCH_TIER } },
    },
  },
];

async function gatewayBench(): Promise<GatewayRow[]> {
  const scenario = SCENARIOS.find((s) => s.name === args.scenario);
  if (!scenario) throw new Error(`unknown scenario ${args.scenario}`);
  const subgraphs = await startSubgraphs();
  const supergraph = writeSupergraph(subgraphs.urls);
  const dir = mkdtempSync(join(tmpdir(), 'bench-cost-'));
  const base = {
    logging: { level: 'warn' },
    metrics: { enabled: true, defaultMetrics: false },
    auth: { jwt: { issuers: [{ issuer: 'bench', audience: 'bench', algorithms: ['HS256'], secretEnv: 'BENCH_JWT_SECRET' }] } },
  };
  // Every configuration runs in its own process, all started up front; rounds alternate between
  // them so that a change in the machine's load (other jobs) hits each alike. Medians are reported.
  const gateways: { name: string; url: string; child: ChildProcess; samples: autocannon.Result[] }[] = [];
  try {
    for (const [index, { name, config }] of CONFIGS.entries()) {
      const file = join(dir, `${index}.yaml`);
      writeFileSync(file, stringify({ ...base, ...config }));
      const port = await freePort();
      const child = tsx('bench/gateway-process.ts', ['ours'], {
        BENCH_PORT: String(port),
        BENCH_SUPERGRAPH: supergraph,
        BENCH_CONFIG: file,
      });
      gateways.push({ name, url: `http://127.0.0.1:${port}/graphql`, child, samples: [] });
    }
    for (const gateway of gateways) {
      await waitForGraphql(gateway.url, gateway.child);
      await load(gateway.url, scenario, Number(args.warmup), Number(args.connections));
    }
    for (let round = 0; round < Number(args.rounds); round++) {
      for (const gateway of gateways) {
        const result = await load(gateway.url, scenario, Number(args.duration), Number(args.connections));
        gateway.samples.push(result);
        process.stderr.write(`round ${round + 1} ${gateway.name.padEnd(34)} ${result.requests.average.toFixed(0).padStart(6)} rps\n`);
      }
    }
  } finally {
    await Promise.all(gateways.map((gateway) => stop(gateway.child)));
    await stop(subgraphs.child);
  }
  return gateways.map(({ name, samples }) => ({
    name,
    rps: median(samples.map((s) => s.requests.average)),
    p50: median(samples.map((s) => s.latency.p50)),
    p99: median(samples.map((s) => s.latency.p99)),
    errors: samples.reduce((sum, s) => sum + s.errors + s.timeouts + s.non2xx, 0),
  }));
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

const estimator = estimatorBench();
const gateways = await gatewayBench();
const off = gateways[0];
const lines = [
  `Estimator (the cross-subgraph operation of bench/scenarios.ts, ${process.version}):`,
  '',
  '| estimator | ops/s |',
  '| --- | ---: |',
  ...estimator.map((row) => `| ${row.name} | ${row.opsPerSecond.toFixed(0)} |`),
  '',
  `Gateway (${args.scenario}, ${args.connections} connections, ${args.warmup} s warm-up, median of ${args.rounds} alternating rounds of ${args.duration} s):`,
  '',
  '| gateway | rps | vs off | p50 ms | p99 ms | errors |',
  '| --- | ---: | ---: | ---: | ---: | ---: |',
  ...gateways.map(
    (row) =>
      `| ${row.name} | ${row.rps.toFixed(0)} | ${off ? (row.rps / off.rps).toFixed(2) : 'n/a'}× | ${row.p50} | ${row.p99} | ${row.errors} |`,
  ),
];
process.stdout.write(`\n${lines.join('\n')}\n`);
if (gateways.some((row) => row.errors > 0)) {
  process.stderr.write('errors during the load: these figures are not valid\n');
  process.exitCode = 1;
}
