import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { GatewayConfigInput } from '../gateway/src/config/index.js';
import { pino } from 'pino';
import { GatewayMetrics } from '../gateway/src/observability/metrics.js';
import { SubgraphHedging } from '../gateway/src/subgraph/hedging.js';
import { BreakerRegistry } from '../gateway/src/upstream/breaker.js';
import { createBulkhead } from '../gateway/src/upstream/bulkhead.js';
import { isBreakerFailure, UpstreamCallError } from '../gateway/src/upstream/call-error.js';
import { AttemptCancelledError } from '../gateway/src/upstream/cancelled.js';
import { HedgeBudget } from '../gateway/src/upstream/hedge.js';
import { ReplicaPool } from '../gateway/src/upstream/replica-pool.js';
import { routeCall } from '../gateway/src/upstream/route.js';
import { LogCapture } from './helpers/logs.js';
import { postGraphql, startTestGateway, type TestGateway } from './helpers/gateway.js';
import { eventually, metricValue } from './helpers/resilience.js';
import { writeTinySupergraph } from './helpers/tiny-subgraph.js';

const SDL = `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@key"])
  type Query { replica: String! }
  type Mutation { touch: String! }
`;

/** One replica of the `inventory` subgraph: answers after `delayMs`, counts what it receives and the requests whose connection closed before the answer. */
interface ReplicaServer {
  readonly id: string;
  readonly url: string;
  delayMs: number;
  queries: number;
  mutations: number;
  /** Requests the gateway gave up on: the connection closed before this server answered. */
  abandoned: number;
  reset(): void;
  close(): Promise<void>;
}

async function startReplica(id: string): Promise<ReplicaServer> {
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => {
      const mutation = body.includes('touch');
      if (!mutation && !body.includes('replica')) {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ data: { __typename: 'Query' } }));
        return;
      }
      if (mutation) replica.mutations++;
      else replica.queries++;
      res.on('close', () => {
        if (!res.writableFinished) replica.abandoned++;
      });
      setTimeout(() => {
        if (res.destroyed) return;
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ data: mutation ? { touch: id } : { replica: id } }));
      }, replica.delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const replica: ReplicaServer = {
    id,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`,
    delayMs: 0,
    queries: 0,
    mutations: 0,
    abandoned: 0,
    reset() {
      replica.delayMs = 0;
      replica.queries = 0;
      replica.mutations = 0;
      replica.abandoned = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return replica;
}

let a: ReplicaServer;
let b: ReplicaServer;
let supergraphPath = '';
let gw: TestGateway | undefined;

beforeAll(async () => {
  [a, b] = await Promise.all([startReplica('a'), startReplica('b')]);
  supergraphPath = writeTinySupergraph(a.url, SDL);
});

afterEach(async () => {
  await gw?.close();
  gw = undefined;
  a.reset();
  b.reset();
});

afterAll(async () => {
  await Promise.all([a.close(), b.close()]);
});

type Hedging = NonNullable<NonNullable<NonNullable<GatewayConfigInput['subgraphs']>[string]>['hedging']>;

/** A gateway whose `inventory` subgraph is `upstreams` (no dedupe, caches or health checks: every query is one call). */
async function startGateway(hedging: Hedging, upstreams: ReplicaServer[] = [a, b]): Promise<TestGateway> {
  gw = await startTestGateway({
    supergraph: { path: supergraphPath, watch: false },
    rateLimit: { enabled: false },
    responseCache: { enabled: false },
    subgraphs: {
      inventory: {
        upstreams: upstreams.map(({ url }) => ({ url })),
        dedupe: false,
        fallback: { cache: false },
        loadBalancing: { healthCheck: { enabled: false } },
        hedging: { enabled: true, adaptive: false, maxPercent: 100, ...hedging },
      },
    },
  });
  return gw;
}

const hedges = (gateway: TestGateway, name = 'gateway_subgraph_hedges_total') => metricValue(gateway, name, { subgraph: 'inventory' });

describe('hedging across replicas', () => {
  it('answers from the fast replica when the first one is slow, and aborts the slow attempt', async () => {
    a.delayMs = 5_000;
    const gateway = await startGateway({ delayMs: 50 });
    // Round robin: whichever replica a query starts on, a query that starts on `a` is hedged to `b`.
    for (let i = 0; i < 2; i++) {
      const result = await postGraphql(gateway.graphqlUrl, { query: '{ replica }' });
      expect(result.status).toBe(200);
      expect(result.body.data).toEqual({ replica: 'b' });
    }
    expect(a.queries).toBeGreaterThanOrEqual(1);
    // Each attempt `a` got lost to `b`'s hedge, and its connection was closed under it.
    expect(await eventually(() => a.abandoned === a.queries)).toBe(true);
    expect(await hedges(gateway)).toBe(a.queries);
    expect(await hedges(gateway, 'gateway_subgraph_hedges_won_total')).toBe(a.queries);
    expect(
      await metricValue(gateway, 'gateway_upstream_requests_total', { subgraph: 'inventory', replica: a.url, result: 'cancelled' }),
    ).toBe(a.queries);
    // A cancelled attempt is not the replica's failure: its breaker saw none.
    expect(
      await metricValue(gateway, 'gateway_upstream_requests_total', { subgraph: 'inventory', replica: a.url, result: 'failure' }),
    ).toBe(0);
  });

  it('never hedges a mutation (each replica counts what it got), while a query on the same gateway is hedged', async () => {
    a.delayMs = 300;
    b.delayMs = 300;
    const gateway = await startGateway({ delayMs: 20 });
    const mutation = await postGraphql(gateway.graphqlUrl, { query: 'mutation { touch }' });
    expect(mutation.body.errors).toBeUndefined();
    expect(a.mutations + b.mutations).toBe(1);
    expect(await hedges(gateway)).toBe(0);

    const query = await postGraphql(gateway.graphqlUrl, { query: '{ replica }' });
    expect(query.body.errors).toBeUndefined();
    expect(a.queries + b.queries).toBe(2);
    expect(await hedges(gateway)).toBe(1);
  });

  it('caps hedges by the budget', async () => {
    a.delayMs = 200;
    b.delayMs = 200;
    const gateway = await startGateway({ delayMs: 20, maxPercent: 10, windowMs: 60_000 });
    for (let i = 0; i < 10; i++) {
      const result = await postGraphql(gateway.graphqlUrl, { query: '{ replica }' });
      expect(result.body.errors).toBeUndefined();
    }
    // 10 % of 10 calls: one hedge; every call waited past the delay, so the other 9 were refused by the budget.
    expect(a.queries + b.queries).toBe(11);
    expect(await hedges(gateway)).toBe(1);
    expect(await metricValue(gateway, 'gateway_subgraph_hedges_skipped_total', { subgraph: 'inventory', reason: 'budget' })).toBe(9);
  });

  it('does not hedge a subgraph with one replica', async () => {
    a.delayMs = 200;
    const gateway = await startGateway({ delayMs: 20 }, [a]);
    for (let i = 0; i < 2; i++) {
      const result = await postGraphql(gateway.graphqlUrl, { query: '{ replica }' });
      expect(result.body.data).toEqual({ replica: 'a' });
    }
    expect(a.queries).toBe(2);
    expect(await hedges(gateway)).toBe(0);
  });
});

describe('the hedge budget', () => {
  it('admits hedges up to its share of the window, one at least, and forgets calls that left the window', () => {
    let now = 1_000_000;
    const budget = new HedgeBudget({ maxPercent: 20, windowMs: 1_000 }, () => now);
    budget.recordCall();
    expect(budget.admit()).toBe(true);
    expect(budget.admit()).toBe(false);
    for (let i = 0; i < 9; i++) budget.recordCall();
    // 10 calls: 20 % is 2 hedges, one already taken.
    expect(budget.admit()).toBe(true);
    expect(budget.admit()).toBe(false);
    now += 1_500;
    budget.recordCall();
    expect(budget.admit()).toBe(true);
  });
});

describe("a half-open breaker's probe", () => {
  it('is not aborted when a hedge answers first: its own failure opens the breaker again', async () => {
    const metrics = new GatewayMetrics({ maxOperationLabels: 10, defaultMetrics: false });
    const breakers = new BreakerRegistry({ isFailure: isBreakerFailure });
    const settings = { enabled: true, errorThresholdPercentage: 50, rollingWindowMs: 10_000, volumeThreshold: 10, resetTimeoutMs: 50 };
    const [urlA, urlB] = ['http://a.test/graphql', 'http://b.test/graphql'];
    const pool = new ReplicaPool({
      name: 'inventory',
      upstreams: [urlA, urlB].map((url) => ({ url, weight: 1 })),
      strategy: 'round_robin',
      ejection: { consecutiveFailures: 0, baseEjectionMs: 1_000, maxEjectionMs: 1_000 },
      breakerFor: (url) => breakers.get(url, settings),
      isFailure: isBreakerFailure,
      metrics,
      logger: pino({ level: 'silent' }, new LogCapture()),
    });
    const hedging = new SubgraphHedging(
      'inventory',
      { enabled: true, delayMs: 20, adaptive: false, percentile: 95, minDelayMs: 1, maxPercent: 100, windowMs: 10_000 },
      metrics,
    );
    try {
      const breakerA = (pool.replicas[0] as NonNullable<(typeof pool.replicas)[0]>).breaker;
      breakerA.force('open');
      expect(await eventually(() => breakerA.state === 'half_open')).toBe(true);
      // Round robin starts at `a`: its probe is the first attempt; it fails after 200 ms unless aborted first.
      const aborted: string[] = [];
      const answer = await hedging.run(
        routeCall({ replicas: { pool } }, urlA, undefined),
        createBulkhead({ name: 'inventory', maxConcurrent: 10 }),
        (url, cancel) => {
          if (url === urlB) return Promise.resolve('b');
          return new Promise<string>((_, reject) => {
            const timer = setTimeout(() => reject(new UpstreamCallError('http_error', 'HTTP 500', 500)), 200);
            cancel?.once('abort', () => {
              clearTimeout(timer);
              aborted.push(url);
              reject(new AttemptCancelledError());
            });
          });
        },
      );
      expect(answer).toBe('b');
      expect(await eventually(() => breakerA.state !== 'half_open')).toBe(true);
      expect(aborted).toEqual([]);
      expect(breakerA.state).toBe('open');
    } finally {
      breakers.shutdown();
    }
  });
});
