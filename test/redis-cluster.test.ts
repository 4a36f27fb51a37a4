import { randomBytes } from 'node:crypto';
import type { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisApiKeyStore } from '../gateway/src/auth/api-key-store.js';
import { DEV_ISSUER } from '../gateway/src/auth/dev-secret.js';
import { createRedisStore } from '../gateway/src/cache/redis-store.js';
import { ConfigError, loadConfig } from '../gateway/src/config/index.js';
import { ApqStore } from '../gateway/src/persisted/apq-store.js';
import { RedisBudgetStore } from '../gateway/src/rate-limit/redis-store.js';
import { createHash } from 'node:crypto';
import { pino } from 'pino';
import { describeApiKeyStoreContract } from './helpers/contracts/api-key-store.js';
import { bucket, describeBudgetStoreContract, newClient, window } from './helpers/contracts/budget-store.js';
import { describeCacheStoreContract } from './helpers/contracts/cache-store.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { entityKey, entityTag } from '../gateway/src/subgraph/cache-keys.js';
import { runCacheCommand } from '../scripts/cache.js';
import {
  NINE_POINTS,
  bearer,
  bucket as tierBucket,
  startCostGateway,
  startCountedSubgraphs,
  type CountedSubgraphs,
} from './helpers/cost-stack.js';
import { postGraphql, type TestGateway } from './helpers/gateway.js';
import { startRedisCluster, type TestRedisCluster } from './helpers/redis-cluster.js';
import { eventually, metricValue, postAsOperator, startFaultyDemo, startGatewayOn, type FaultyDemo } from './helpers/resilience.js';

/**
 * Everything the gateway keeps in Redis, on a real three-master Redis Cluster started from the
 * installed redis-server (once for this file). If it cannot start, beforeAll throws and every test
 * here fails with the reason: nothing is skipped.
 */
const PREFIX = `test:cluster:${randomBytes(4).toString('hex')}:`;
let cluster: TestRedisCluster;
let client: Cluster;
const extraClients: Cluster[] = [];

beforeAll(async () => {
  cluster = await startRedisCluster();
  client = await cluster.connect(PREFIX);
}, 60_000);

afterAll(async () => {
  client?.disconnect();
  for (const extra of extraClients) extra.disconnect();
  await cluster?.stop();
});

// The same contract suites the standalone stores run (test/rate-limit-store.test.ts,
// test/cache-store.test.ts, test/api-keys.test.ts), against the cluster.
describeBudgetStoreContract('redis cluster', () => new RedisBudgetStore(client));
describeCacheStoreContract('redis cluster', () => createRedisStore({ redis: client, namespace: 'fallback:' }));
describeApiKeyStoreContract('redis cluster', () => {
  // A fresh, empty store per test: a prefix of its own (connected lazily; the cluster is up by now).
  const own = cluster.connect(`${PREFIX}keys${extraClients.length}:`);
  return lazyApiKeyStore(own);
});

/** A store whose cluster connection is still being made (the contract builds stores synchronously). */
function lazyApiKeyStore(connecting: Promise<Cluster>): RedisApiKeyStore {
  const ready = connecting.then((own) => {
    extraClients.push(own);
    return new RedisApiKeyStore(own);
  });
  return {
    get: async (id) => (await ready).get(id),
    put: async (record) => (await ready).put(record),
    list: async () => (await ready).list(),
  } as RedisApiKeyStore;
}

describe('keys on a cluster', () => {
  it("keeps all of a client's limits in one slot, and spreads clients over the masters", async () => {
    const limits = [bucket(100, 1, 'burst'), window(1_000, 3_600, 'daily')];
    const own = await cluster.connect(`${PREFIX}spread:`);
    extraClients.push(own);
    const clients = Array.from({ length: 48 }, () => newClient());
    for (const id of clients) expect((await new RedisBudgetStore(own).charge(id, 1, limits)).allowed).toBe(true);
    const keys = await cluster.keys(`${PREFIX}spread:rl:`);
    expect(keys).toHaveLength(96);
    const slotOf = async (key: string) => Number(await client.call('CLUSTER', 'KEYSLOT', key));
    for (const id of clients) {
      const own = keys.filter((key) => key.includes(`{${id}}`));
      expect(own).toHaveLength(2);
      expect(await slotOf(own[0] as string)).toBe(await slotOf(own[1] as string));
    }
    // 48 random clients over three slot ranges: every master holds some (a master with none: p ≈ 3·(2/3)^48 ≈ 1e-8).
    const perNode = await Promise.all(cluster.nodes.map(async (_node, i) => (await clusterNodeKeys(i)).length));
    expect(perNode.filter((count) => count > 0)).toHaveLength(3);
  });

  it('keeps the API key records and their index in one slot (MULTI and MGET need it)', async () => {
    const store = lazyApiKeyStore(cluster.connect(`${PREFIX}slot-keys:`));
    await store.put({ id: 'aaaaaaaaaaaaaaaa', hash: 'h1', owner: 'o', tier: 'free', scopes: [], createdAt: new Date().toISOString() });
    await store.put({ id: 'bbbbbbbbbbbbbbbb', hash: 'h2', owner: 'o', tier: 'free', scopes: [], createdAt: new Date().toISOString() });
    const keys = await cluster.keys(`${PREFIX}slot-keys:`);
    expect(keys).toHaveLength(3);
    const slots = new Set(await Promise.all(keys.map(async (key) => Number(await client.call('CLUSTER', 'KEYSLOT', key)))));
    expect(slots.size).toBe(1);
    expect((await store.list()).map((record) => record.id)).toEqual(['aaaaaaaaaaaaaaaa', 'bbbbbbbbbbbbbbbb']);
  });
});

/** The keys of this file that live on master `index`. */
async function clusterNodeKeys(index: number): Promise<string[]> {
  const port = Number(new URL(cluster.nodes[index] as string).port);
  const node = client.nodes('master').find((candidate) => candidate.options.port === port);
  if (!node) throw new Error(`no master on port ${port}`);
  const [, keys] = await node.scan('0', 'MATCH', `${PREFIX}spread:rl:*`, 'COUNT', 10_000);
  return keys;
}

describe('automatic persisted queries on a cluster', () => {
  it('finds on a second instance what the first registered, from whichever master holds it, with its TTL', async () => {
    const logger = pino({ level: 'silent' });
    const options = { cacheMaxBytes: 1_000_000, ttlSeconds: 600, redis: client, logger };
    const first = new ApqStore(options);
    const second = new ApqStore(options);
    const documents = Array.from({ length: 12 }, (_, i) => `{ product(upc: "upc-${i}") { upc } }`);
    const hash = (query: string) => createHash('sha256').update(query).digest('hex');
    for (const query of documents) await first.set(hash(query), query);
    for (const query of documents) expect(await second.get(hash(query))).toEqual({ query, from: 'redis' });
    // Spread over the masters (single-key commands need no tag), each with the registration's TTL.
    const holders = await Promise.all(
      client.nodes('master').map(async (node) => (await node.scan('0', 'MATCH', `${PREFIX}apq:*`, 'COUNT', 10_000))[1].length),
    );
    expect(holders.reduce((a, b) => a + b, 0)).toBe(documents.length);
    expect(holders.filter((count) => count > 0).length).toBeGreaterThan(1);
    const ttl = await client.ttl(`apq:${hash(documents[0] as string)}`);
    expect(ttl).toBeGreaterThan(500);
    expect(ttl).toBeLessThanOrEqual(600);
  });
});

describe('two gateway instances on one Redis Cluster', () => {
  let counted: CountedSubgraphs;
  const gateways: TestGateway[] = [];
  const gatewayPrefix = `${PREFIX}gw:`;
  beforeAll(async () => {
    counted = await startCountedSubgraphs();
  });
  afterAll(async () => {
    await Promise.all(gateways.map((gw) => gw.close()));
    await counted?.close();
    await cluster?.deleteKeys(gatewayPrefix);
  });

  it("admit exactly one budget's worth of each client's concurrent requests split across both, on every master; the rest get 429", async () => {
    // 45 points, refilled at 0.01 point/s: during the test the budget is five 9-point queries, no more.
    const config = {
      // Generous timeouts (commands and budget calls): this test is about sharing, and a loaded
      // machine must not turn slow answers into failures (which would fail closed: 503).
      redis: { cluster: { nodes: cluster.nodes }, keyPrefix: gatewayPrefix, commandTimeoutMs: 5_000 },
      rateLimit: {
        storeTimeoutMs: 5_000,
        onStoreFailure: 'closed' as const,
        defaultTier: 'shared',
        tiers: { shared: { maxCost: 45, maxDepth: 10, maxAliases: 5, maxRootFields: 5, limits: [tierBucket('burst', 45, 0.01)] } },
      },
    };
    gateways.push(...(await Promise.all([startCostGateway(counted, config), startCostGateway(counted, config)])));
    const [a, b] = gateways as [TestGateway, TestGateway];
    const ready = (await (await fetch(`${a.url}/ready`)).json()) as { redis: { status: string } };
    expect(ready.redis.status).toBe('ready');

    // One client per master (chosen by the slot of its hash tag), so every node serves a budget.
    const subs = await subsOnEveryMaster();
    const results = await Promise.all(
      subs.map(async (sub) => {
        const headers = await bearer(sub, 'shared');
        return Promise.all(
          Array.from({ length: 20 }, (_, i) => postGraphql((i % 2 === 0 ? a : b).graphqlUrl, { query: NINE_POINTS }, headers)),
        );
      }),
    );
    for (const perClient of results) {
      const statuses = perClient.map((result) => result.status);
      const seen = JSON.stringify(
        perClient.filter((result) => result.status !== 200 && result.status !== 429).map((result) => result.body),
      );
      expect(
        statuses.filter((status) => status === 200),
        seen,
      ).toHaveLength(5);
      expect(
        statuses.filter((status) => status === 429),
        seen,
      ).toHaveLength(15);
      for (const refused of perClient.filter((result) => result.status === 429)) {
        expect(refused.body.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
      }
    }
    // Both instances answered from the shared budgets.
    const allowed = (gw: TestGateway) => metricValue(gw, 'gateway_rate_limit_total', { tier: 'shared', result: 'allowed' });
    const limited = (gw: TestGateway) => metricValue(gw, 'gateway_rate_limit_total', { tier: 'shared', result: 'limited' });
    expect((await allowed(a)) + (await allowed(b))).toBe(15);
    expect((await limited(a)) + (await limited(b))).toBe(45);
    expect(await metricValue(a, 'gateway_rate_limit_store_errors_total', {})).toBe(0);
    expect(await metricValue(b, 'gateway_rate_limit_store_errors_total', {})).toBe(0);
    // The state behind it: one nearly empty bucket per client, one on each master.
    const keys = (await cluster.keys(gatewayPrefix)).filter((key) => key.includes(':rl:'));
    expect(keys).toHaveLength(3);
    for (const key of keys) {
      const tokens = await client.hget(key.slice(PREFIX.length), 'tokens');
      expect(tokens).not.toBeNull();
      expect(Number(tokens)).toBeGreaterThanOrEqual(0);
      expect(Number(tokens)).toBeLessThan(9);
    }
  });
});

/** Three JWT subjects whose budget keys hash to the first, second and third master's slots. */
async function subsOnEveryMaster(): Promise<string[]> {
  const found: (string | undefined)[] = [undefined, undefined, undefined];
  for (let attempt = 0; attempt < 500 && found.includes(undefined); attempt++) {
    const sub = `cluster-${randomBytes(3).toString('hex')}`;
    const slot = Number(await client.call('CLUSTER', 'KEYSLOT', `{user:${DEV_ISSUER.issuer}:${sub}}`));
    // The slot ranges test/helpers/redis-cluster.ts gives the masters: [16384·i/3, 16384·(i+1)/3).
    const master = [2, 1, 0].find((i) => slot >= Math.floor((16_384 * i) / 3)) as number;
    found[master] ??= sub;
  }
  if (found.includes(undefined)) throw new Error('no subject found for every master');
  return found as string[];
}

describe('shared breaker state on a Redis Cluster', () => {
  let demo: FaultyDemo;
  const gateways: TestGateway[] = [];
  const breakerPrefix = `${PREFIX}breakers:`;
  beforeAll(async () => {
    demo = await startFaultyDemo();
  });
  afterAll(async () => {
    await Promise.all(gateways.map((gw) => gw.close()));
    await demo?.close();
    await cluster?.deleteKeys(breakerPrefix);
  });

  it("opens B's breaker when A's opens (pub/sub across the cluster), and B makes no call", async () => {
    const config = {
      redis: { cluster: { nodes: cluster.nodes }, keyPrefix: breakerPrefix },
      resilience: {
        subgraphDefaults: { retry: { maxRetries: 0 }, fallback: { cache: false } },
        sharedBreakers: { enabled: true, resyncIntervalMs: 60_000 },
      },
      subgraphs: { products: { breaker: { volumeThreshold: 4, resetTimeoutMs: 60_000 } } },
    };
    // A and B seeded with different nodes: their subscriptions may sit on different masters.
    const a = await startGatewayOn(demo, { ...config, redis: { ...config.redis, cluster: { nodes: [cluster.nodes[0] as string] } } });
    gateways.push(a);
    const b = await startGatewayOn(demo, { ...config, redis: { ...config.redis, cluster: { nodes: [cluster.nodes[2] as string] } } });
    gateways.push(b);
    const state = (gw: TestGateway) => metricValue(gw, 'gateway_circuit_breaker_state', { subgraph: 'products' });
    // Both subscribed (counted on every master: classic pub/sub is cluster-wide).
    const subscribed = await eventually(async () => {
      const counts = await Promise.all(
        client
          .nodes('master')
          .map(async (node) => Number(((await node.call('PUBSUB', 'NUMSUB', `${breakerPrefix}breakers`)) as [string, number])[1])),
      );
      return counts.reduce((sum, count) => sum + count, 0) >= 2;
    }, 10_000);
    expect(subscribed).toBe(true);

    demo.proxies.products.mode = { kind: 'reset' };
    for (let i = 0; i < 20 && (await state(a)) !== 2; i++)
      await postAsOperator(a.graphqlUrl, { query: `{ product(upc: "upc-000${i % 9}") { upc } }` });
    expect(await state(a)).toBe(2);
    expect(await eventually(async () => (await state(b)) === 2, 5_000)).toBe(true);
    const hits = demo.proxies.products.hits;
    const refused = await postAsOperator(b.graphqlUrl, { query: '{ product(upc: "upc-0001") { upc } }' });
    expect(refused.body.errors?.[0]?.extensions).toMatchObject({ code: 'SUBGRAPH_UNAVAILABLE', subgraph: 'products' });
    expect(demo.proxies.products.hits).toBe(hits);
    expect(await metricValue(b, 'gateway_circuit_breaker_transitions_total', { breaker: 'products', state: 'open', cause: 'remote' })).toBe(
      1,
    );
    expect(await client.exists('breakers:breaker:{products}')).toBe(1);
  });
});

describe('response cache purge on a cluster', () => {
  it('`npm run cache -- purge --type --key` removes exactly the named entity, across slots', async () => {
    const prefix = `${PREFIX}purge:`;
    const own = await cluster.connect(prefix);
    extraClients.push(own);
    const store = createRedisStore({ redis: own, namespace: 'fallback:' });
    const upcs = ['upc-0001', 'upc-0002', 'upc-0003', 'upc-0004', 'upc-0005', 'upc-0006'];
    for (const upc of upcs) {
      for (const selection of ['a', 'b']) {
        const key = entityKey('Product', `upc=${upc}`, 'products', '', selection);
        await store.set(key, '{"v":"{}","m":60,"s":0,"p":"PUBLIC"}', 60_000);
        await store.tag([entityTag('Product', `upc=${upc}`)], key, 60_000);
      }
    }
    const before = await cluster.keys(prefix);
    expect(before.length).toBe(upcs.length * 3);
    const file = join(mkdtempSync(join(tmpdir(), 'cluster-purge-')), 'gateway.yaml');
    writeFileSync(file, `redis:\n  keyPrefix: "${prefix}"\n  cluster:\n    nodes: [${cluster.nodes.map((n) => `"${n}"`).join(', ')}]\n`);
    const lines: string[] = [];
    expect(await runCacheCommand(['purge', '--type', 'Product', '--key', 'upc=upc-0003', '--config', file], {}, (l) => lines.push(l))).toBe(
      0,
    );
    expect(lines).toEqual(['purged 2 response cache entries']);
    const named = [entityKey('Product', 'upc=upc-0003', 'products', '', 'a'), entityKey('Product', 'upc=upc-0003', 'products', '', 'b')];
    const gone = [...named.map((key) => `${prefix}fallback:${key}`), `${prefix}fallback:tag:${entityTag('Product', 'upc=upc-0003')}`];
    expect((await cluster.keys(prefix)).sort()).toEqual(before.filter((key) => !gone.includes(key)).sort());
    // --all empties the response cache on every master.
    expect(await runCacheCommand(['purge', '--all', '--config', file], {}, (l) => lines.push(l))).toBe(0);
    expect(lines[1]).toBe('purged 10 response cache entries');
    expect(await cluster.keys(prefix)).toEqual([]);
  });
});

describe('cluster configuration', () => {
  const load = (redis: Record<string, unknown>, env: Record<string, string> = {}) => loadConfig({ env, overrides: { redis } as never });

  it('takes seed nodes from redis.cluster.nodes or REDIS_CLUSTER_NODES (comma-separated)', () => {
    expect(load({ cluster: { nodes: ['redis://10.0.0.1:7000'] } }).redis.cluster?.nodes).toEqual(['redis://10.0.0.1:7000']);
    const fromEnv = load({}, { REDIS_CLUSTER_NODES: 'redis://a:7000, redis://b:7001,' });
    expect(fromEnv.redis.cluster?.nodes).toEqual(['redis://a:7000', 'redis://b:7001']);
    expect(fromEnv.rateLimit.store).toBe('auto');
  });

  it('refuses both a url and a cluster, a node without a port, an empty list and braces in the key prefix', () => {
    expect(() => load({ url: 'redis://a:6379', cluster: { nodes: ['redis://b:7000'] } })).toThrow(
      /redis\.cluster: give redis\.url \(one server\) or redis\.cluster/,
    );
    expect(() => load({ cluster: { nodes: ['redis://b'] } })).toThrow(/redis\.cluster\.nodes\.0: a node is `redis:\/\/host:port`/);
    expect(() => load({ cluster: { nodes: ['http://b:7000'] } })).toThrow(ConfigError);
    expect(() => load({ cluster: { nodes: [] } })).toThrow(/redis\.cluster\.nodes/);
    expect(() => load({ url: 'redis://a:6379', keyPrefix: 'gw:{x}:' })).toThrow(/redis\.keyPrefix: must not contain `\{` or `\}`/);
    expect(() => load({}, { REDIS_CLUSTER_NODES: 'redis://a' })).toThrow(/redis\.cluster\.nodes\.0 \(from env REDIS_CLUSTER_NODES\)/);
  });
});

// Last in this file: it kills a master, and the cluster stays down afterwards.
describe('a master of the cluster dies', () => {
  let counted: CountedSubgraphs;
  const gateways: TestGateway[] = [];
  beforeAll(async () => {
    counted = await startCountedSubgraphs();
  });
  afterAll(async () => {
    await Promise.all(gateways.map((gw) => gw.close()));
    await counted?.close();
  });

  it('budgets fail open or closed as configured, answered within the store timeout, never hanging', async () => {
    const tier = { maxCost: 45, maxDepth: 10, maxAliases: 5, maxRootFields: 5, limits: [tierBucket('burst', 1_000, 100)] };
    const config = (onStoreFailure: 'open' | 'closed') => ({
      redis: { cluster: { nodes: cluster.nodes }, keyPrefix: `${PREFIX}dies:` },
      rateLimit: { onStoreFailure, storeTimeoutMs: 200, retryStoreAfterMs: 300, defaultTier: 'shared', tiers: { shared: tier } },
    });
    const open = await startCostGateway(counted, config('open'));
    gateways.push(open);
    const closed = await startCostGateway(counted, config('closed'));
    gateways.push(closed);
    const subs = await subsOnEveryMaster();
    for (const sub of subs)
      expect((await postGraphql(closed.graphqlUrl, { query: NINE_POINTS }, await bearer(sub, 'shared'))).status).toBe(200);

    await cluster.killNode(1);
    // Every client, whichever master held its budget: the cluster without full slot coverage
    // refuses all commands once it notices (cluster-node-timeout), and the dead master's at once.
    for (let round = 0; round < 3; round++) {
      for (const sub of subs) {
        const headers = await bearer(sub, 'shared');
        const startedAt = Date.now();
        expect((await postGraphql(open.graphqlUrl, { query: NINE_POINTS }, headers)).status).toBe(200);
        expect(Date.now() - startedAt).toBeLessThan(3_000);
      }
    }
    const deadSub = await bearer(subs[1] as string, 'shared');
    const startedAt = Date.now();
    const refused = await postGraphql(closed.graphqlUrl, { query: NINE_POINTS }, deadSub);
    expect(Date.now() - startedAt).toBeLessThan(3_000);
    expect(refused.status).toBe(503);
    expect(refused.body.errors?.[0]?.extensions?.code).toBe('RATE_LIMIT_UNAVAILABLE');
    expect(await metricValue(open, 'gateway_rate_limit_store_errors_total', {})).toBeGreaterThan(0);
  });
});
