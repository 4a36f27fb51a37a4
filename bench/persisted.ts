import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type autocannon from 'autocannon';
import { stringify } from 'yaml';
import { manifestOf } from '../gateway/src/persisted/write-manifest.js';
import { REQUEST_HEADERS, freePort, load, startSubgraphs, stop, tsx, waitForGraphql, writeSupergraph } from './harness.js';
import type { Scenario } from './scenarios.js';

/**
 * `npm run bench:persisted`: one gateway (its own process, thin subgraphs) sent the same
 * one-subgraph operation four ways, in alternating rounds: the full query, an APQ hash (registered
 * before the load), a trusted-document `documentId`, and batches of `--batch` copies of the full
 * query. Reports requests/s and operations/s (a batch is several operations), medians of rounds.
 *
 * Options: --duration S (default 5), --warmup S (default 2), --connections N (default 20),
 * --rounds N (default 3), --batch N (default 5).
 */
const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '2' },
    connections: { type: 'string', default: '20' },
    batch: { type: 'string', default: '5' },
  },
});
const batchSize = Number(args.batch);

const manifest = manifestOf([{ name: 'bench', text: 'query Top { topProducts(first: 5) { upc name price } }' }]);
const listed = manifest.operations[0];
if (!listed) throw new Error('empty manifest');
const QUERY = listed.body;
const fiveProducts = (response: unknown) => (response as { data?: { topProducts?: unknown[] } }).data?.topProducts?.length === 5;

const CASES: { name: string; operations: number; scenario: Scenario }[] = [
  { name: 'full query', operations: 1, scenario: scenario('full', JSON.stringify({ query: QUERY })) },
  {
    name: 'APQ hash (memory store)',
    operations: 1,
    scenario: scenario('apq', JSON.stringify({ extensions: { persistedQuery: { version: 1, sha256Hash: listed.id } } })),
  },
  { name: 'trusted documentId', operations: 1, scenario: scenario('id', JSON.stringify({ documentId: `sha256:${listed.id}` })) },
  {
    name: `batch of ${batchSize} full queries`,
    operations: batchSize,
    scenario: scenario('batch', JSON.stringify(Array.from({ length: batchSize }, () => ({ query: QUERY })))),
  },
];

function scenario(name: string, body: string): Scenario {
  return { name, description: name, body: () => body, check: fiveProducts };
}

const subgraphs = await startSubgraphs();
const dir = mkdtempSync(join(tmpdir(), 'bench-persisted-'));
const manifestPath = join(dir, 'manifest.json');
writeFileSync(manifestPath, JSON.stringify(manifest));
const configPath = join(dir, 'config.yaml');
writeFileSync(
  configPath,
  stringify({
    logging: { level: 'warn' },
    metrics: { enabled: true, defaultMetrics: false },
    auth: { jwt: { issuers: [{ issuer: 'bench', audience: 'bench', algorithms: ['HS256'], secretEnv: 'BENCH_JWT_SECRET' }] } },
    rateLimit: { enabled: false },
    graphql: {
      batching: { enabled: true, maxOperations: Math.max(10, batchSize) },
      trustedDocuments: { mode: 'off', manifest: manifestPath },
    },
  }),
);
const port = await freePort();
const url = `http://127.0.0.1:${port}/graphql`;
const child = tsx('bench/gateway-process.ts', ['ours'], {
  BENCH_PORT: String(port),
  BENCH_SUPERGRAPH: writeSupergraph(subgraphs.urls),
  BENCH_CONFIG: configPath,
});
const samples = new Map<string, autocannon.Result[]>(CASES.map((c) => [c.name, []]));
try {
  await waitForGraphql(url, child);
  // Register the APQ document, and check every case answers correctly before measuring.
  await fetch(url, {
    method: 'POST',
    headers: REQUEST_HEADERS,
    body: JSON.stringify({ query: QUERY, extensions: { persistedQuery: { version: 1, sha256Hash: listed.id } } }),
  });
  for (const c of CASES) {
    const answer = (await (await fetch(url, { method: 'POST', headers: REQUEST_HEADERS, body: c.scenario.body(0) })).json()) as unknown;
    const answers = Array.isArray(answer) ? answer : [answer];
    if (answers.length !== c.operations || !answers.every(fiveProducts))
      throw new Error(`${c.name}: wrong answer ${JSON.stringify(answer).slice(0, 300)}`);
    await load(url, c.scenario, Number(args.warmup), Number(args.connections));
  }
  for (let round = 0; round < Number(args.rounds); round++) {
    for (const c of CASES) {
      const result = await load(url, c.scenario, Number(args.duration), Number(args.connections));
      samples.get(c.name)?.push(result);
      process.stderr.write(`round ${round + 1} ${c.name.padEnd(30)} ${result.requests.average.toFixed(0).padStart(6)} rps\n`);
    }
  }
} finally {
  await stop(child);
  await stop(subgraphs.child);
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
const rows = CASES.map((c) => {
  const results = samples.get(c.name) ?? [];
  const rps = median(results.map((r) => r.requests.average));
  return {
    name: c.name,
    rps,
    ops: rps * c.operations,
    p50: median(results.map((r) => r.latency.p50)),
    p99: median(results.map((r) => r.latency.p99)),
    errors: results.reduce((sum, r) => sum + r.errors + r.timeouts + r.non2xx, 0),
  };
});
const lines = [
  `One-subgraph operation, ${args.connections} connections, median of ${args.rounds} alternating rounds of ${args.duration} s (${process.version}):`,
  '',
  '| sent as | requests/s | operations/s | p50 ms | p99 ms | errors |',
  '| --- | ---: | ---: | ---: | ---: | ---: |',
  ...rows.map((row) => `| ${row.name} | ${row.rps.toFixed(0)} | ${row.ops.toFixed(0)} | ${row.p50} | ${row.p99} | ${row.errors} |`),
];
process.stdout.write(`\n${lines.join('\n')}\n`);
if (rows.some((row) => row.errors > 0)) {
  process.stderr.write('errors during the load: these figures are not valid\n');
  process.exitCode = 1;
}
