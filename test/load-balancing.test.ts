import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, type GatewayConfigInput } from '../gateway/src/config/index.js';
import { GatewayMetrics } from '../gateway/src/observability/metrics.js';
import { BreakerRegistry } from '../gateway/src/upstream/breaker.js';
import { isBreakerFailure, UpstreamCallError as SubgraphCallError } from '../gateway/src/upstream/call-error.js';
import { NoReplicaAvailableError, ReplicaPool } from '../gateway/src/upstream/replica-pool.js';
import { buildRing, createStrategy, hash32, ringLookup, type Candidate } from '../gateway/src/upstream/strategies.js';
import { startBlackhole } from './helpers/blackhole.js';
import { LogCapture } from './helpers/logs.js';
import { postGraphql, startTestGateway, type TestGateway } from './helpers/gateway.js';
import { eventually, metricValue } from './helpers/resilience.js';
import { startRestUpstream, type RestUpstream } from './helpers/rest-upstream.js';
import { startTinySubgraph, TINY_SDL, writeTinySupergraph, type TinySubgraph } from './helpers/tiny-subgraph.js';
import { pino } from 'pino';

/** The tiny subgraph with a field that says which replica answered. */
const REPLICA_SDL = TINY_SDL.replace('slow(ms: Int!): String!', 'slow(ms: Int!): String!\n    replica: String!');
const QUERY = '{ replica }';

interface Replica {
  readonly id: string;
  readonly port: number;
  readonly url: string;
  /** Milliseconds the `replica` field waits before answering. */
  delayMs: number;
  running: TinySubgraph | undefined;
  kill(): Promise<void>;
  revive(): Promise<void>;
}

/** One replica of the tiny subgraph that answers `replica` with its own id; it can be stopped and restarted on the same port. */
async function startReplica(id: string): Promise<Replica> {
  const start = (port?: number) =>
    startTinySubgraph({
      sdl: REPLICA_SDL,
      port,
      resolvers: {
        Query: {
          replica: async () => {
            if (replica.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, replica.delayMs));
            return id;
          },
        },
      },
    });
  const first = await start();
  const port = Number(new URL(first.url).port);
  const replica: Replica = {
    id,
    port,
    url: first.url,
    delayMs: 0,
    running: first,
    async kill() {
      await replica.running?.close();
      replica.running = undefined;
    },
    async revive() {
      if (!replica.running) replica.running = await start(port);
    },
  };
  return replica;
}

let replicas: Replica[] = [];
let supergraphPath = '';
let gw: TestGateway | undefined;

beforeAll(async () => {
  replicas = await Promise.all(['a', 'b', 'c'].map(startReplica));
  supergraphPath = writeTinySupergraph((replicas[0] as Replica).url, REPLICA_SDL);
});

afterEach(async () => {
  await gw?.close();
  gw = undefined;
  for (const replica of replicas) {
    replica.delayMs = 0;
    await replica.revive();
  }
});

afterAll(async () => {
  for (const replica of replicas) await replica.kill();
});

const [A, B, C] = [0, 1, 2].map((i) => () => replicas[i] as Replica) as [() => Replica, () => Replica, () => Replica];

type Inventory = NonNullable<NonNullable<GatewayConfigInput['subgraphs']>[string]>;

/** A gateway whose `inventory` subgraph is the three replicas (no dedupe, no budget: every query is one call). */
async function startGateway(
  inventory: Partial<Inventory> = {},
  weights: number[] = [1, 1, 1],
  rateLimit: GatewayConfigInput['rateLimit'] = { enabled: false },
): Promise<TestGateway> {
  gw = await startTestGateway({
    supergraph: { path: supergraphPath, watch: false },
    // /ready and /health list replicas and breakers only with the detail switch on.
    server: { readinessDetail: true },
    rateLimit,
    subgraphs: {
      inventory: {
        upstreams: replicas.map((replica, i) => ({ url: replica.url, weight: weights[i] ?? 1 })),
        dedupe: false,
        ...inventory,
        fallback: { cache: false, ...inventory.fallback },
      },
    },
  });
  return gw;
}

async function ask(gateway: TestGateway, headers: Record<string, string> = {}) {
  const result = await postGraphql(gateway.graphqlUrl, { query: QUERY }, headers);
  return {
    status: result.status,
    replica: (result.body.data as { replica?: string } | null | undefined)?.replica,
    errors: result.body.errors,
  };
}

async function askMany(gateway: TestGateway, count: number, concurrency = 1): Promise<{ a: number; b: number; c: number }> {
  const counts = { a: 0, b: 0, c: 0 };
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        next++;
        const { replica, errors } = await ask(gateway);
        expect(errors).toBeUndefined();
        counts[replica as keyof typeof counts]++;
      }
    }),
  );
  return counts;
}

interface ReadyReplica {
  url: string;
  state: string;
  breaker: string;
  ejections: number;
}

async function readyReplicas(gateway: TestGateway): Promise<{ status: number; replicas: ReadyReplica[]; available: number }> {
  const response = await fetch(`${gateway.url}/ready`);
  const body = (await response.json()) as { subgraphs: { name: string; replicas?: ReadyReplica[]; replicasAvailable?: number }[] };
  const inventory = body.subgraphs.find((s) => s.name === 'inventory');
  return { status: response.status, replicas: inventory?.replicas ?? [], available: inventory?.replicasAvailable ?? -1 };
}

const stateOf = async (gateway: TestGateway, replica: Replica) =>
  (await readyReplicas(gateway)).replicas.find((r) => r.url === replica.url)?.state;

describe('a subgraph with three replicas', () => {
  it('round robin spreads calls evenly', async () => {
    const gateway = await startGateway({ loadBalancing: { strategy: 'round_robin' } });
    expect(await askMany(gateway, 30)).toEqual({ a: 10, b: 10, c: 10 });
    expect(
      await metricValue(gateway, 'gateway_upstream_requests_total', { subgraph: 'inventory', replica: B().url, result: 'success' }),
    ).toBe(10);
    const ready = await readyReplicas(gateway);
    expect(ready.status).toBe(200);
    expect(ready.replicas.map((r) => [r.url, r.state, r.breaker])).toEqual(replicas.map((r) => [r.url, 'healthy', 'closed']));
    expect(ready.available).toBe(3);
  });

  it("a one-entry upstreams list is a single URL, as before: no balancer, no probes, the subgraph's own breaker", async () => {
    gw = await startTestGateway({
      supergraph: { path: supergraphPath, watch: false },
      server: { readinessDetail: true },
      rateLimit: { enabled: false },
      subgraphs: { inventory: { upstreams: [{ url: B().url }], dedupe: false, loadBalancing: { healthCheck: { intervalMs: 50 } } } },
    });
    expect(await askMany(gw, 4)).toEqual({ a: 0, b: 4, c: 0 });
    const ready = (await (await fetch(`${gw.url}/ready`)).json()) as {
      subgraphs: { name: string; url: string; replicas?: unknown; breaker: { state: string } }[];
    };
    expect(ready.subgraphs[0]).toMatchObject({ name: 'inventory', url: B().url, breaker: { state: 'closed' } });
    expect(ready.subgraphs[0]?.replicas).toBeUndefined();
    expect(await gw.gateway.metrics.registry.getSingleMetric('gateway_upstream_requests_total')?.get()).toMatchObject({ values: [] });
    // No probes: only the four queries reached it.
    const received = B().running?.receivedHeaders.length ?? 0;
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(B().running?.receivedHeaders.length).toBe(received);
  });

  it('a replica that cannot be connected to within connectTimeoutMs: the query goes to another one, well before its timeout', async () => {
    const blackhole = await startBlackhole();
    try {
      const unreachable = `${blackhole.origin}/graphql`;
      gw = await startTestGateway({
        supergraph: { path: supergraphPath, watch: false },
        rateLimit: { enabled: false },
        subgraphs: {
          inventory: {
            upstreams: [{ url: A().url }, { url: unreachable }],
            dedupe: false,
            connectTimeoutMs: 200,
            timeoutMs: 5_000,
            retry: { maxRetries: 1, baseDelayMs: 1, maxDelayMs: 1 },
            loadBalancing: { strategy: 'round_robin', healthCheck: { enabled: false }, ejection: { consecutiveFailures: 0 } },
            fallback: { cache: false },
          },
        },
      });
      // Round robin sends at least one of the four to the unreachable replica first. Without a connect
      // timeout of its own, that attempt would wait for the 5 s attempt timeout, which is not retried.
      expect(await askMany(gw, 4)).toEqual({ a: 4, b: 0, c: 0 });
      expect(
        await metricValue(gw, 'gateway_upstream_requests_total', { subgraph: 'inventory', replica: unreachable, result: 'failure' }),
      ).toBeGreaterThanOrEqual(1);
    } finally {
      await gw?.close();
      gw = undefined;
      await blackhole.close();
    }
  });

  it('weighted round robin follows the weights', async () => {
    const gateway = await startGateway({ loadBalancing: { strategy: 'weighted_round_robin' } }, [3, 1, 1]);
    expect(await askMany(gateway, 50)).toEqual({ a: 30, b: 10, c: 10 });
  });

  it('least outstanding sends few calls to a slow replica', async () => {
    const gateway = await startGateway({ loadBalancing: { strategy: 'least_outstanding' } });
    B().delayMs = 400;
    const counts = await askMany(gateway, 60, 6);
    expect(counts.a + counts.b + counts.c).toBe(60);
    // Round robin would send it 20; least outstanding sends it a call only when it has fewer in flight than the others.
    expect(counts.b).toBeLessThanOrEqual(10);
  });

  it('consistent hash keeps a header value on one replica; when that replica dies only its keys move, and no call fails', async () => {
    const gateway = await startGateway({
      loadBalancing: { strategy: 'consistent_hash', hashHeader: 'X-Tenant', healthCheck: { enabled: false } },
    });
    const tenants = Array.from({ length: 30 }, (_, i) => `tenant-${i}`);
    const owner = new Map<string, string>();
    for (const tenant of tenants) {
      const first = await ask(gateway, { 'x-tenant': tenant });
      const second = await ask(gateway, { 'x-tenant': tenant });
      expect(second.replica).toBe(first.replica);
      owner.set(tenant, first.replica as string);
    }
    // The ring spreads 30 keys over all three.
    expect(new Set(owner.values()).size).toBe(3);

    await B().kill();
    for (const tenant of tenants) {
      const { replica, errors } = await ask(gateway, { 'x-tenant': tenant });
      expect(errors).toBeUndefined();
      if (owner.get(tenant) === 'b') expect(replica).not.toBe('b');
      else expect(replica).toBe(owner.get(tenant));
    }
    // The first calls to the dead replica failed and were retried on the next one on the ring; then it was ejected.
    expect(
      await metricValue(gateway, 'gateway_upstream_ejections_total', { subgraph: 'inventory', replica: B().url }),
    ).toBeGreaterThanOrEqual(1);
    expect(await stateOf(gateway, B())).toBe('ejected');
  });

  it('loses no query when a replica is killed under traffic, marks it out, and takes it back once its health checks pass', async () => {
    const gateway = await startGateway({
      loadBalancing: {
        strategy: 'round_robin',
        healthCheck: { intervalMs: 100, timeoutMs: 500, healthyThreshold: 2, unhealthyThreshold: 2 },
        // Long enough that only the health checks can bring it back within the test.
        ejection: { consecutiveFailures: 2, baseEjectionMs: 120_000, maxEjectionMs: 120_000 },
      },
      breaker: { resetTimeoutMs: 1_000 },
    });
    type Phase = 'before' | 'down' | 'back';
    const results: (Awaited<ReturnType<typeof ask>> & { phase: Phase })[] = [];
    let phase: Phase = 'before';
    const servedByBAfterRevive = () => results.filter((r) => r.replica === 'b' && r.phase === 'back').length;
    let stop = false;
    const traffic = Promise.all(
      Array.from({ length: 3 }, async () => {
        // Bounded: at most 3 × 3000 queries even if a wait below never ends.
        for (let i = 0; i < 3_000 && !stop; i++) {
          const current = phase;
          const result = await ask(gateway);
          results.push({ ...result, phase: current });
        }
      }),
    );
    try {
      expect(await eventually(() => results.length >= 30, 15_000)).toBe(true);
      await B().kill();
      phase = 'down';
      expect(await eventually(async () => (await stateOf(gateway, B())) === 'unhealthy', 15_000)).toBe(true);
      expect(await metricValue(gateway, 'gateway_upstream_replica_state', { subgraph: 'inventory', replica: B().url })).toBe(1);
      expect((await readyReplicas(gateway)).status).toBe(200);
      expect((await readyReplicas(gateway)).available).toBe(2);

      await B().revive();
      phase = 'back';
      expect(await eventually(async () => (await stateOf(gateway, B())) === 'healthy', 15_000)).toBe(true);
      expect(await eventually(() => servedByBAfterRevive() >= 5, 15_000)).toBe(true);
      expect(await metricValue(gateway, 'gateway_upstream_replica_state', { subgraph: 'inventory', replica: B().url })).toBe(0);
    } finally {
      stop = true;
      await traffic;
    }
    const failed = results.filter((r) => r.status !== 200 || r.errors !== undefined || r.replica === undefined);
    expect(failed).toEqual([]);
    expect(results.filter((r) => r.phase === 'down').length).toBeGreaterThan(0);
    expect(gateway.logs.find((l) => l.msg === 'replica fails its health checks' && l.replica === B().url)).toHaveLength(1);
    expect(gateway.logs.find((l) => l.msg === 'replica passes its health checks again' && l.replica === B().url)).toHaveLength(1);
  });

  it("has a breaker per replica: the subgraph counts as open only when every replica's breaker is", async () => {
    const gateway = await startGateway(
      {
        loadBalancing: { healthCheck: { enabled: false }, ejection: { consecutiveFailures: 0 } },
        breaker: { volumeThreshold: 1, errorThresholdPercentage: 50, resetTimeoutMs: 120_000 },
        retry: { maxRetries: 0 },
      },
      undefined,
      { enabled: true, extensions: true, adaptive: { enabled: true, openFactor: 0.25 } },
    );
    const breakerOf = (name: string) => metricValue(gateway, 'gateway_circuit_breaker_state', { subgraph: name });
    const refill = async () => {
      const result = await postGraphql(gateway.graphqlUrl, { query: QUERY });
      return (result.body.extensions as { cost?: { throttleStatus?: { refillFactor?: number; degradedSubgraphs?: unknown } } } | undefined)
        ?.cost?.throttleStatus;
    };
    await A().kill();
    const first = await ask(gateway);
    expect(first.errors?.[0]?.extensions).toMatchObject({ code: 'SUBGRAPH_UNAVAILABLE', subgraph: 'inventory' });
    expect(await breakerOf(`inventory@${A().url}`)).toBe(2);
    expect(await breakerOf('inventory')).toBe(0);
    // Adaptive budgets see the subgraph as the combined state: one replica out is not degraded.
    expect((await refill())?.refillFactor).toBeUndefined();
    // A's breaker keeps it out: B and C serve everything.
    expect(await askMany(gateway, 6)).toEqual({ a: 0, b: 3, c: 3 });

    await B().kill();
    await C().kill();
    // B and C each have 3 successes in their window: their breakers open once failures pass half.
    for (let i = 0; i < 20 && (await breakerOf('inventory')) !== 2; i++) {
      expect((await ask(gateway)).errors?.[0]?.extensions?.code).toBe('SUBGRAPH_UNAVAILABLE');
      const replicaStates = await Promise.all(replicas.map((replica) => breakerOf(`inventory@${replica.url}`)));
      expect(await breakerOf('inventory')).toBe(replicaStates.every((state) => state === 2) ? 2 : 0);
    }
    expect(await breakerOf('inventory')).toBe(2);
    const health = (await (await fetch(`${gateway.url}/health`)).json()) as { subgraphs: Record<string, { breaker: string }> };
    expect(health.subgraphs.inventory?.breaker).toBe('open');
    expect((await readyReplicas(gateway)).replicas.map((r) => r.breaker)).toEqual(['open', 'open', 'open']);
    expect(await refill()).toMatchObject({ refillFactor: 0.25, degradedSubgraphs: [{ subgraph: 'inventory', reason: 'breaker_open' }] });
    // Nothing left to call: refused without a network call.
    await ask(gateway);
    expect(await metricValue(gateway, 'gateway_subgraph_requests_total', { subgraph: 'inventory', result: 'no_replica' })).toBe(2);
  });

  it('serves the subgraph fallback only when every replica is out', async () => {
    const gateway = await startGateway({
      loadBalancing: { healthCheck: { intervalMs: 100, healthyThreshold: 1, unhealthyThreshold: 1 } },
      fallback: { cache: true, refreshAfterMs: 0 },
    });
    const fresh = await postGraphql(gateway.graphqlUrl, { query: QUERY });
    expect(fresh.body.extensions).toBeUndefined();

    // Two of three down: still answered by the third, no fallback.
    await A().kill();
    await B().kill();
    for (let i = 0; i < 4; i++) {
      const result = await postGraphql(gateway.graphqlUrl, { query: QUERY });
      expect(result.body).toEqual({ data: { replica: 'c' } });
    }

    await C().kill();
    expect(await eventually(async () => (await readyReplicas(gateway)).available === 0, 15_000)).toBe(true);
    const result = await postGraphql(gateway.graphqlUrl, { query: QUERY });
    // The last complete answer was kept (every replica's answer goes to the same cache key): c's.
    expect(result.body.data).toEqual({ replica: 'c' });
    expect(result.body.extensions).toEqual({
      fallbacks: [{ subgraph: 'inventory', source: 'cache', age: expect.any(Number), reason: 'error' }],
    });
    expect(await metricValue(gateway, 'gateway_subgraph_requests_total', { subgraph: 'inventory', result: 'no_replica' })).toBe(1);
    // Readiness does not follow one subgraph's replicas (see docs/load-balancing.md).
    expect((await readyReplicas(gateway)).status).toBe(200);
  });
});

describe('health checks', () => {
  it('probe every replica on their interval, and stop when the gateway closes', async () => {
    const gateway = await startGateway({ loadBalancing: { healthCheck: { intervalMs: 50 } } });
    const received = () => replicas.map((replica) => replica.running?.receivedHeaders.length ?? 0);
    const before = received();
    expect(await eventually(() => received().every((n, i) => n >= (before[i] ?? 0) + 2), 10_000)).toBe(true);
    await gateway.close();
    gw = undefined;
    const afterClose = received();
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(received()).toEqual(afterClose);
    // A timer left running would probe through the closed connection pool, fail, and mark the replicas out.
    expect(gateway.logs.find((l) => l.msg === 'replica fails its health checks')).toEqual([]);
  });
});

describe('load-balancing strategies (no I/O)', () => {
  const candidates = (n: number, weight = 1): (Candidate & { outstanding: number })[] =>
    Array.from({ length: n }, (_, i) => ({ url: `http://replica-${i}:4000/graphql`, weight, outstanding: 0 }));

  it('smooth weighted round robin interleaves a heavy replica instead of bursting it', () => {
    const pool = [
      { url: 'a', weight: 5, outstanding: 0 },
      { url: 'b', weight: 1, outstanding: 0 },
      { url: 'c', weight: 1, outstanding: 0 },
    ];
    const strategy = createStrategy('weighted_round_robin', pool);
    const order = Array.from({ length: 7 }, () => strategy.pick(() => true, undefined)?.url).join('');
    expect(order).toBe('aabacaa');
  });

  it('least outstanding picks the replica with the fewest calls in flight per weight', () => {
    const pool = candidates(3);
    pool[0]!.outstanding = 4;
    pool[1]!.outstanding = 1;
    pool[2]!.outstanding = 3;
    const strategy = createStrategy('least_outstanding', pool);
    expect(strategy.pick(() => true, undefined)).toBe(pool[1]);
    expect(strategy.pick((r) => r !== pool[1], undefined)).toBe(pool[2]);
  });

  it('the hash ring spreads keys and moves only the keys of a replica that leaves', () => {
    const pool = candidates(4);
    const ring = buildRing(pool);
    const keys = Array.from({ length: 2_000 }, (_, i) => `user-${i}`);
    const before = keys.map((key) => ringLookup(ring, hash32(key), () => true));
    for (const replica of pool) {
      const share = before.filter((r) => r === replica).length / keys.length;
      expect(share).toBeGreaterThan(0.15);
      expect(share).toBeLessThan(0.35);
    }
    const gone = pool[2];
    const after = keys.map((key) => ringLookup(ring, hash32(key), (r) => r !== gone));
    keys.forEach((_, i) => {
      if (before[i] === gone) expect(after[i]).not.toBe(gone);
      else expect(after[i]).toBe(before[i]);
    });
  });

  it('consistent hash without a key goes round robin', () => {
    const pool = candidates(3);
    const strategy = createStrategy('consistent_hash', pool);
    expect([0, 1, 2, 3].map(() => strategy.pick(() => true, undefined))).toEqual([pool[0], pool[1], pool[2], pool[0]]);
  });
});

describe('passive ejection', () => {
  function pool(now: () => number) {
    const metrics = new GatewayMetrics({ maxOperationLabels: 10, defaultMetrics: false });
    const breakers = new BreakerRegistry({ isFailure: isBreakerFailure });
    const settings = { enabled: false, errorThresholdPercentage: 50, rollingWindowMs: 10_000, volumeThreshold: 10, resetTimeoutMs: 10_000 };
    const replicaPool = new ReplicaPool({
      name: 'inventory',
      upstreams: [
        { url: 'http://a.test/graphql', weight: 1 },
        { url: 'http://b.test/graphql', weight: 1 },
      ],
      strategy: 'round_robin',
      ejection: { consecutiveFailures: 2, baseEjectionMs: 1_000, maxEjectionMs: 3_000 },
      breakerFor: (url) => breakers.get(url, settings),
      isFailure: isBreakerFailure,
      metrics,
      logger: pino({ level: 'silent' }, new LogCapture()),
      now,
    });
    return { replicaPool, metrics, close: () => breakers.shutdown() };
  }

  const fail = () => Promise.reject(new SubgraphCallError('network_error', 'ECONNREFUSED'));
  const succeed = () => Promise.resolve('ok');

  it('ejects after consecutive failures for a back-off that doubles up to the maximum and resets after a success', async () => {
    let clock = 1_000_000;
    const { replicaPool, metrics, close } = pool(() => clock);
    const [a, b] = replicaPool.replicas as [NonNullable<(typeof replicaPool.replicas)[0]>, NonNullable<(typeof replicaPool.replicas)[0]>];
    /** Fails `a` (only `a` is tried) until it is ejected; returns the ejection's length. */
    const ejectA = async () => {
      for (let i = 0; i < 2; i++) await expect(replicaPool.run(new Set([b]), undefined, fail)).rejects.toThrow(SubgraphCallError);
      expect(replicaPool.state(a)).toBe('ejected');
      return a.ejectedUntil - clock;
    };
    try {
      expect(await ejectA()).toBe(1_000);
      // While ejected, only b takes calls; with b excluded as well nothing may.
      expect(replicaPool.pick(new Set())).toBe(b);
      clock += 1_000;
      expect(replicaPool.state(a)).toBe('healthy');
      expect(await ejectA()).toBe(2_000);
      clock += 2_000;
      expect(await ejectA()).toBe(3_000);
      clock += 3_000;
      await replicaPool.run(new Set([b]), undefined, succeed);
      expect(await ejectA()).toBe(1_000);
      const ejections = await metrics.registry.getSingleMetric('gateway_upstream_ejections_total')?.get();
      expect(ejections?.values.find((v) => v.labels.replica === a.label)?.value).toBe(4);
      // Both out: the call is refused without running.
      for (let i = 0; i < 2; i++) await expect(replicaPool.run(new Set([a]), undefined, fail)).rejects.toThrow(SubgraphCallError);
      await expect(replicaPool.run(new Set(), undefined, succeed)).rejects.toThrow(NoReplicaAvailableError);
    } finally {
      close();
    }
  });
});

describe('replica config', () => {
  const load = (overrides: GatewayConfigInput, env: NodeJS.ProcessEnv = {}) => loadConfig({ env, overrides });

  it('reads a comma-separated SUBGRAPH_<NAME>_URL as replicas, a single URL as before', () => {
    const config = load(
      {},
      { SUBGRAPH_INVENTORY_URL: 'http://i1:4000/graphql, http://i2:4000/graphql', SUBGRAPH_USERS_URL: 'http://users:4001/graphql' },
    );
    expect(config.subgraphs).toEqual({
      inventory: {
        upstreams: [
          { url: 'http://i1:4000/graphql', weight: 1 },
          { url: 'http://i2:4000/graphql', weight: 1 },
        ],
      },
      users: { url: 'http://users:4001/graphql' },
    });
  });

  it.each([
    {
      name: 'url and upstreams together',
      subgraph: { url: 'http://a:1/graphql', upstreams: [{ url: 'http://b:1/graphql' }] },
      message: /subgraphs\.inventory\.upstreams: give either url or upstreams/,
    },
    {
      name: 'the same replica twice',
      subgraph: { upstreams: [{ url: 'http://a:1/graphql' }, { url: 'http://a:1/graphql' }] },
      message: /subgraphs\.inventory\.upstreams\.1\.url: duplicate replica/,
    },
    {
      name: 'consistent_hash without a hashHeader',
      subgraph: {
        upstreams: [{ url: 'http://a:1/graphql' }, { url: 'http://b:1/graphql' }],
        loadBalancing: { strategy: 'consistent_hash' as const },
      },
      message: /subgraphs\.inventory\.loadBalancing\.hashHeader: consistent_hash needs a hashHeader/,
    },
    {
      name: 'an unknown strategy',
      subgraph: { upstreams: [{ url: 'http://a:1/graphql' }], loadBalancing: { strategy: 'random' as never } },
      message: /subgraphs\.inventory\.loadBalancing\.strategy/,
    },
    {
      name: 'a zero weight',
      subgraph: { upstreams: [{ url: 'http://a:1/graphql', weight: 0 }] },
      message: /subgraphs\.inventory\.upstreams\.0\.weight/,
    },
  ])('rejects $name, naming the key', ({ subgraph, message }) => {
    expect(() => load({ subgraphs: { inventory: subgraph } })).toThrow(ConfigError);
    expect(() => load({ subgraphs: { inventory: subgraph } })).toThrow(message);
  });

  it('a REST route takes exactly one of upstream or upstreams, origins only', () => {
    const route = { prefix: '/legacy/svc' };
    expect(() => load({ rest: { routes: [route as never] } })).toThrow(
      /rest\.routes\.0\.upstream: give exactly one of upstream or upstreams/,
    );
    expect(() => load({ rest: { routes: [{ ...route, upstream: 'http://a:1', upstreams: [{ url: 'http://b:1' }] } as never] } })).toThrow(
      /rest\.routes\.0\.upstream: give exactly one of upstream or upstreams/,
    );
    expect(() =>
      load({ rest: { routes: [{ ...route, upstreams: [{ url: 'http://a:1/api' }, { url: 'http://b:1' }] } as never] } }),
    ).toThrow(/rest\.routes\.0\.upstreams\.0\.url: an origin only/);
    expect(() =>
      load({
        rest: {
          routes: [
            {
              ...route,
              upstreams: [{ url: 'http://a:1' }, { url: 'http://b:1' }],
              loadBalancing: { strategy: 'consistent_hash' },
            } as never,
          ],
        },
      }),
    ).toThrow(/rest\.routes\.0\.loadBalancing\.hashHeader: consistent_hash needs a hashHeader/);
    expect(
      load({ rest: { routes: [{ ...route, upstreams: [{ url: 'http://a:1' }, { url: 'http://b:1', weight: 2 }] } as never] } }).rest
        .routes[0]?.upstreams,
    ).toEqual([
      { url: 'http://a:1', weight: 1 },
      { url: 'http://b:1', weight: 2 },
    ]);
  });

  it('rejects replicas with the resilience layer off, and a bad replica URL from the environment names the variable', () => {
    expect(() =>
      load({
        resilience: { enabled: false },
        subgraphs: { inventory: { upstreams: [{ url: 'http://a:1/graphql' }, { url: 'http://b:1/graphql' }] } },
      }),
    ).toThrow(/several replicas need resilience\.enabled: true/);
    expect(() => load({}, { SUBGRAPH_INVENTORY_URL: 'http://a:1/graphql,nope' })).toThrow(
      /subgraphs\.inventory\.upstreams\.1\.url \(from env SUBGRAPH_INVENTORY_URL\)/,
    );
  });
});

describe('a REST route with three replicas', () => {
  let services: RestUpstream[] = [];
  let rest: TestGateway | undefined;

  beforeAll(async () => {
    services = await Promise.all([0, 1, 2].map(() => startRestUpstream()));
  });
  afterEach(async () => {
    await rest?.close();
    rest = undefined;
    for (const service of services) {
      await service.revive();
      service.hits.length = 0;
    }
  });
  afterAll(async () => {
    for (const service of services) await service.close();
  });

  const startRest = async (route: Record<string, unknown>) => {
    rest = await startTestGateway({
      supergraph: { path: supergraphPath, watch: false },
      server: { readinessDetail: true },
      rateLimit: { enabled: false },
      rest: {
        routes: [
          {
            prefix: '/legacy/svc',
            upstreams: services.map((service) => ({ url: service.origin })),
            auth: { mode: 'optional' },
            cost: 0,
            ...route,
          } as never,
        ],
      },
    });
    return rest;
  };
  const hitsOf = () => services.map((service) => service.hits.filter((hit) => hit.url.startsWith('/legacy/svc/echo')).length);

  it('spreads requests round robin, loses no GET when one replica dies, and takes it back when its health path answers again', async () => {
    const gateway = await startRest({
      loadBalancing: {
        healthCheck: { path: '/health', intervalMs: 100, healthyThreshold: 2, unhealthyThreshold: 2 },
        ejection: { consecutiveFailures: 1, baseEjectionMs: 120_000, maxEjectionMs: 120_000 },
      },
    });
    for (let i = 0; i < 9; i++) expect((await fetch(`${gateway.url}/legacy/svc/echo?i=${i}`)).status).toBe(200);
    expect(hitsOf()).toEqual([3, 3, 3]);

    const dead = services[1] as RestUpstream;
    await dead.kill();
    for (let i = 0; i < 9; i++) expect((await fetch(`${gateway.url}/legacy/svc/echo?down=${i}`)).status).toBe(200);
    const ready = async () =>
      (
        (await (await fetch(`${gateway.url}/ready`)).json()) as { rest: { prefix: string; replicas?: { url: string; state: string }[] }[] }
      ).rest[0]?.replicas?.find((r) => r.url === `${dead.origin}/`)?.state;
    expect(await eventually(async () => (await ready()) === 'unhealthy', 15_000)).toBe(true);

    await dead.revive();
    expect(await eventually(async () => (await ready()) === 'healthy', 15_000)).toBe(true);
    dead.hits.length = 0;
    for (let i = 0; i < 9; i++) expect((await fetch(`${gateway.url}/legacy/svc/echo?back=${i}`)).status).toBe(200);
    expect(dead.hits.filter((hit) => hit.url.startsWith('/legacy/svc/echo')).length).toBeGreaterThanOrEqual(2);
  });

  it('answers 503 UPSTREAM_UNAVAILABLE when no replica is left, without calling any', async () => {
    const gateway = await startRest({
      loadBalancing: { healthCheck: { enabled: false }, ejection: { consecutiveFailures: 1, baseEjectionMs: 120_000 } },
      retries: { maxRetries: 2 },
    });
    for (const service of services) await service.kill();
    const first = await fetch(`${gateway.url}/legacy/svc/echo`);
    expect(first.status).toBe(502);
    // All three were tried (one attempt each) and ejected: the next request finds none.
    const second = await fetch(`${gateway.url}/legacy/svc/echo`);
    expect(second.status).toBe(503);
    expect(((await second.json()) as { error: string }).error).toBe('UPSTREAM_UNAVAILABLE');
    expect(await metricValue(gateway, 'gateway_upstream_ejections_total', { subgraph: 'rest:/legacy/svc' })).toBe(1);
  });
});
