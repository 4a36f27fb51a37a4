/**
 * `npm run bench:scale-out [-- --cluster]`: one gateway instance against two, behind the same thin
 * subgraphs, with budgets (and the fallback cache) in Redis; then budget exactness across the two.
 *
 * 1. Throughput: autocannon against one instance with CONNECTIONS connections, then against both at
 *    once with CONNECTIONS / 2 each (a round-robin client or load balancer splits load like this),
 *    for BENCH_DURATION_S seconds each after a discarded warm-up. Scenario: `one-subgraph` (the
 *    trivial query: the gateway's own cost dominates, so instance count matters most).
 * 2. Exactness: one client with a budget of BUDGET points (token bucket, refill ~0), 4 × (budget / cost)
 *    requests, EXACT_IN_FLIGHT at a time, alternating between the two instances. Admitted points must equal the budget
 *    (to within one request's cost): nothing is admitted twice by the two instances.
 *
 * `--cluster`: Redis is a private 3-master Redis Cluster (test/helpers/redis-cluster.ts) instead of
 * the server at 127.0.0.1:6379. Env: BENCH_DURATION_S (10), BENCH_WARMUP_S (3), BENCH_CONNECTIONS (50).
 *
 * Every process shares this machine's cores: the load generator, the subgraphs, Redis and the
 * gateways. Two instances can only go faster than one while there are idle cores.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { Redis } from 'ioredis';
import { startRedisCluster, type TestRedisCluster } from '../test/helpers/redis-cluster.js';
import { JWT_SECRET, freePort, load, startSubgraphs, stop, tsx, waitForGraphql, writeSupergraph } from './harness.js';
import { SCENARIOS } from './scenarios.js';

const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 10);
const WARMUP_S = Number(process.env.BENCH_WARMUP_S ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const BUDGET = 900;
const EXACT_IN_FLIGHT = 40;
const useCluster = process.argv.includes('--cluster');
const scenario = SCENARIOS.find((s) => s.name === 'one-subgraph');
if (!scenario) throw new Error('scenario one-subgraph is missing');

const prefix = `bench-scale:${randomBytes(3).toString('hex')}:`;
const children: ChildProcess[] = [];
let cluster: TestRedisCluster | undefined;

function configFile(): string {
  const redis = cluster ? `  cluster:\n    nodes: [${cluster.nodes.map((n) => `"${n}"`).join(', ')}]\n` : '  url: redis://127.0.0.1:6379\n';
  const yaml = `logging: { level: info }
metrics: { enabled: true }
redis:
${redis}  keyPrefix: "${prefix}"
  commandTimeoutMs: 5000
auth:
  jwt:
    issuers:
      - { issuer: bench, audience: bench, algorithms: [HS256], secretEnv: BENCH_JWT_SECRET }
rateLimit:
  store: redis
  # Generous: the exactness run must not fail open to per-instance budgets on a busy machine
  # (the run reports how many budget calls failed anyway).
  storeTimeoutMs: 5000
  defaultTier: enterprise
  tiers:
    enterprise:
      { maxCost: 100000, maxDepth: 20, maxAliases: 100, maxRootFields: 50, limits: [{ name: burst, kind: token_bucket, capacity: 1000000000, refillPerSecond: 100000000 }] }
    exact:
      { maxCost: ${BUDGET}, maxDepth: 20, maxAliases: 100, maxRootFields: 50, limits: [{ name: burst, kind: token_bucket, capacity: ${BUDGET}, refillPerSecond: 0.001 }] }
`;
  const path = join(mkdtempSync(join(tmpdir(), 'bench-scale-')), 'gateway.yaml');
  writeFileSync(path, yaml);
  return path;
}

async function startGateway(supergraph: string, config: string): Promise<string> {
  const port = await freePort();
  const child = tsx('bench/gateway-process.ts', ['ours'], { BENCH_PORT: String(port), BENCH_SUPERGRAPH: supergraph, BENCH_CONFIG: config });
  children.push(child);
  const url = `http://127.0.0.1:${port}/graphql`;
  await waitForGraphql(url, child);
  return url;
}

async function throughput(urls: string[]): Promise<{ rps: number; p99: number; errors: number }> {
  const each = Math.max(1, Math.floor(CONNECTIONS / urls.length));
  await Promise.all(urls.map((url) => load(url, scenario as NonNullable<typeof scenario>, WARMUP_S, each)));
  const results = await Promise.all(urls.map((url) => load(url, scenario as NonNullable<typeof scenario>, DURATION_S, each)));
  return {
    rps: Math.round(results.reduce((sum, r) => sum + r.requests.average, 0)),
    p99: Math.max(...results.map((r) => r.latency.p99)),
    errors: results.reduce((sum, r) => sum + r.errors + r.non2xx, 0),
  };
}

async function exactness(
  urls: string[],
): Promise<{ cost: number; requests: number; storeErrors: number; admitted: number; limited: number; other: number }> {
  const token = await new SignJWT({ tier: 'exact' })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer('bench')
    .setAudience('bench')
    .setSubject(`exact-${randomBytes(3).toString('hex')}`)
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(JWT_SECRET));
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${token}` };
  const body = scenario?.body(0) ?? '';
  // The cost of one request, from a dry run (nothing charged).
  const explained = (await (
    await fetch(urls[0] as string, { method: 'POST', headers: { ...headers, 'x-cost-explain': '1' }, body })
  ).json()) as {
    extensions?: { cost?: { requestedQueryCost?: number } };
  };
  const cost = explained.extensions?.cost?.requestedQueryCost;
  if (typeof cost !== 'number' || cost <= 0) throw new Error(`no cost in the dry run: ${JSON.stringify(explained)}`);
  const storeErrors = async () => {
    let total = 0;
    for (const url of urls) {
      const text = await (await fetch(new URL('/metrics', url))).text();
      total += Number(/^gateway_rate_limit_store_errors_total (\d+)/m.exec(text)?.[1] ?? 0);
    }
    return total;
  };
  const errorsBefore = await storeErrors();
  // EXACT_IN_FLIGHT workers, each sending one request at a time, alternating instances, until all are sent.
  const requests = Math.ceil((BUDGET / cost) * 4);
  const statuses: number[] = [];
  let next = 0;
  const worker = async () => {
    while (next < requests) {
      const i = next++;
      statuses.push((await fetch(urls[i % urls.length] as string, { method: 'POST', headers, body })).status);
    }
  };
  await Promise.all(Array.from({ length: EXACT_IN_FLIGHT }, worker));
  // A budget call that failed or timed out was answered by the failure policy (per instance): say so.
  const errors = (await storeErrors()) - errorsBefore;
  return {
    cost,
    requests,
    storeErrors: errors,
    admitted: statuses.filter((s) => s === 200).length,
    limited: statuses.filter((s) => s === 429).length,
    other: statuses.filter((s) => s !== 200 && s !== 429).length,
  };
}

async function main() {
  if (useCluster) cluster = await startRedisCluster();
  const subgraphs = await startSubgraphs();
  children.push(subgraphs.child);
  const supergraph = writeSupergraph(subgraphs.urls);
  const config = configFile();
  const first = await startGateway(supergraph, config);
  const one = await throughput([first]);
  const second = await startGateway(supergraph, config);
  const two = await throughput([first, second]);
  const exact = await exactness([first, second]);

  const redis = useCluster ? `a 3-master Redis Cluster (private, ${cluster?.nodes.join(', ')})` : 'Redis 127.0.0.1:6379';
  const lines = [
    `Scale-out, ${new Date().toISOString().slice(0, 10)}, ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}), Node ${process.version}, budgets on ${redis}.`,
    `Scenario ${scenario?.name} (${scenario?.description}); ${CONNECTIONS} connections in total, ${DURATION_S} s after a ${WARMUP_S} s warm-up.`,
    '',
    '| instances | rps (sum) | p99 ms (worst) | errors |',
    '| --- | ---: | ---: | ---: |',
    `| 1 | ${one.rps} | ${one.p99} | ${one.errors} |`,
    `| 2 | ${two.rps} | ${two.p99} | ${two.errors} |`,
    '',
    `Budget exactness: budget ${BUDGET} points, ${exact.cost} points per request, ${exact.requests} requests, ${EXACT_IN_FLIGHT} in flight at a time, alternating over both instances:`,
    `${exact.admitted} admitted (${exact.admitted * exact.cost} points, budget ${BUDGET}), ${exact.limited} refused with 429, ${exact.other} other; ${exact.storeErrors} budget calls to Redis failed or timed out during this run.`,
  ];
  console.log(lines.join('\n'));
}

try {
  await main();
} finally {
  await Promise.all(children.map((child) => stop(child)));
  if (cluster) {
    await cluster.deleteKeys(prefix).catch(() => undefined);
    await cluster.stop();
  } else {
    const redis = new Redis('redis://127.0.0.1:6379');
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  }
}
