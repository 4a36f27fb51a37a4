/**
 * `npx tsx bench/balancer.ts`: what the replica balancer adds to one subgraph attempt, in process,
 * with no network: the single-URL path (the subgraph's breaker around the attempt) against a pool
 * of three replicas (pick, outstanding count, the replica's breaker, bookkeeping, a metric) for each
 * strategy. The attempt itself is a resolved promise, so the figures are the layer's own CPU cost.
 * Env: BENCH_CALLS (default 200000), BENCH_ROUNDS (5); the table shows the median over rounds.
 */
import { pino } from 'pino';
import { GatewayMetrics } from '../gateway/src/observability/metrics.js';
import { BreakerRegistry } from '../gateway/src/upstream/breaker.js';
import { isBreakerFailure } from '../gateway/src/upstream/call-error.js';
import { ReplicaPool, type Replica } from '../gateway/src/upstream/replica-pool.js';
import { BALANCING_STRATEGIES } from '../gateway/src/upstream/strategies.js';

const CALLS = Number(process.env.BENCH_CALLS ?? 200_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const BREAKER = { enabled: true, errorThresholdPercentage: 50, rollingWindowMs: 10_000, volumeThreshold: 10, resetTimeoutMs: 10_000 };
const logger = pino({ level: 'silent' });
const answer = Promise.resolve('ok');
const attempt = () => answer;

async function time(run: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 10_000; i++) await run();
  const started = process.hrtime.bigint();
  for (let i = 0; i < CALLS; i++) await run();
  return Number(process.hrtime.bigint() - started) / CALLS / 1000;
}

const variants: { name: string; make(): () => Promise<unknown> }[] = [
  {
    name: 'one URL: subgraph breaker',
    make() {
      const breaker = new BreakerRegistry({ isFailure: isBreakerFailure }).get('inventory', BREAKER);
      return () => breaker.run(attempt);
    },
  },
  ...BALANCING_STRATEGIES.map((strategy) => ({
    name: `3 replicas: ${strategy}`,
    make() {
      const breakers = new BreakerRegistry({ isFailure: isBreakerFailure });
      const pool = new ReplicaPool({
        name: 'inventory',
        upstreams: [0, 1, 2].map((i) => ({ url: `http://replica-${i}:4000/graphql`, weight: 1 })),
        strategy,
        ejection: { consecutiveFailures: 3, baseEjectionMs: 5_000, maxEjectionMs: 60_000 },
        breakerFor: (url) => breakers.get(`inventory@${url}`, BREAKER),
        isFailure: isBreakerFailure,
        metrics: new GatewayMetrics({ maxOperationLabels: 10, defaultMetrics: false }),
        logger,
      });
      let n = 0;
      return () => pool.run(new Set<Replica>(), strategy === 'consistent_hash' ? `user-${n++ % 1000}` : undefined, attempt);
    },
  })),
];

const results = new Map<string, number[]>();
for (let round = 0; round < ROUNDS; round++) {
  for (const variant of round % 2 ? [...variants].reverse() : variants) {
    const us = await time(variant.make());
    results.set(variant.name, [...(results.get(variant.name) ?? []), us]);
  }
}
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
const base = median(results.get(variants[0]!.name) ?? []);
console.log(`Node ${process.version}; ${CALLS} calls per run, ${ROUNDS} rounds, medians\n`);
console.log('| variant | µs per attempt | added vs one URL |');
console.log('| --- | --- | --- |');
for (const variant of variants) {
  const us = median(results.get(variant.name) ?? []);
  console.log(`| ${variant.name} | ${us.toFixed(2)} | ${variant === variants[0] ? '—' : `+${(us - base).toFixed(2)} µs`} |`);
}
process.exit(0);
