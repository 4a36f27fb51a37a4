import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../gateway/src/config/index.js';
import { waitForRedis } from './helpers/cost-stack.js';
import type { TestGateway } from './helpers/gateway.js';
import { TEST_REDIS_URL } from './helpers/redis.js';
import { startPrivateRedis } from './helpers/redis-server.js';
import { eventually, metricValue, postAsOperator, startFaultyDemo, startGatewayOn, type FaultyDemo } from './helpers/resilience.js';

/**
 * Breaker state shared through Redis (resilience.sharedBreakers): two gateway instances in front of
 * the same demo subgraphs, products behind a fault proxy that counts every request reaching it.
 */
let demo: FaultyDemo;
let admin: Redis;
const gateways: TestGateway[] = [];
const prefixes: string[] = [];

beforeAll(async () => {
  demo = await startFaultyDemo();
  admin = new Redis(TEST_REDIS_URL);
});
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((gw) => gw.close()));
  const proxy = demo.proxies.products;
  await proxy.revive();
  proxy.mode = { kind: 'pass' };
  proxy.resetCounters();
});
afterAll(async () => {
  await demo?.close();
  for (const prefix of prefixes) {
    const keys = await admin.keys(`${prefix}*`);
    if (keys.length) await admin.del(...keys);
  }
  admin?.disconnect();
});

const productQuery = (n: number) => `{ product(upc: "upc-${String(n).padStart(4, '0')}") { upc name } }`;
const breakerState = (gw: TestGateway) => metricValue(gw, 'gateway_circuit_breaker_state', { subgraph: 'products' });
const transitions = (gw: TestGateway, state: string, cause: string) =>
  metricValue(gw, 'gateway_circuit_breaker_transitions_total', { breaker: 'products', state, cause });
const sync = (gw: TestGateway, result: string) => metricValue(gw, 'gateway_breaker_sync_total', { result });

/** A unique key prefix (and so channel) per test; its keys are deleted after the file. */
function newPrefix(): string {
  const prefix = `test:shared-breaker:${randomBytes(4).toString('hex')}:`;
  prefixes.push(prefix);
  return prefix;
}

async function startGateway(
  prefix: string,
  products: { resetTimeoutMs: number },
  shared: { enabled?: boolean; resyncIntervalMs?: number; maxMessageAgeMs?: number },
  redisUrl = TEST_REDIS_URL,
): Promise<TestGateway> {
  const gw = await startGatewayOn(demo, {
    redis: { url: redisUrl, keyPrefix: prefix },
    // waitForRedis reads /ready's Redis status (server.readinessDetail).
    server: { readinessDetail: true },
    resilience: { subgraphDefaults: { retry: { maxRetries: 0 }, fallback: { cache: false } }, sharedBreakers: shared },
    subgraphs: { products: { breaker: { volumeThreshold: 4, errorThresholdPercentage: 50, resetTimeoutMs: products.resetTimeoutMs } } },
  });
  gateways.push(gw);
  return gw;
}

/** Both instances' subscriptions are in place (Redis counts the subscribers of the channel). */
async function waitForSubscribers(prefix: string, count: number): Promise<void> {
  const subscribed = await eventually(async () => {
    const [, subscribers] = (await admin.call('PUBSUB', 'NUMSUB', `${prefix}breakers`)) as [string, number];
    return Number(subscribers) >= count;
  }, 10_000);
  if (!subscribed) throw new Error(`fewer than ${count} subscribers on ${prefix}breakers`);
}

/** Sends failing product queries to `gw` until its breaker opens (at most 20). */
async function openBreakerOn(gw: TestGateway): Promise<number> {
  let sent = 0;
  while ((await breakerState(gw)) !== 2 && sent < 20) {
    const result = await postAsOperator(gw.graphqlUrl, { query: productQuery(sent + 1) });
    expect(result.body.errors?.[0]?.extensions).toMatchObject({ code: 'SUBGRAPH_UNAVAILABLE', subgraph: 'products' });
    sent++;
  }
  expect(await breakerState(gw)).toBe(2);
  return sent;
}

describe('shared breaker state on (resilience.sharedBreakers.enabled)', () => {
  it("opens B when A opens, so B answers SUBGRAPH_UNAVAILABLE without calling the subgraph; closes B when A's probe succeeds", async () => {
    const prefix = newPrefix();
    // B's own reset timeout is long: whatever closes B here is A's report, not B's own probe.
    // Resync far off: what B learns here comes by pub/sub.
    const a = await startGateway(prefix, { resetTimeoutMs: 3_000 }, { enabled: true, resyncIntervalMs: 60_000 });
    const b = await startGateway(prefix, { resetTimeoutMs: 60_000 }, { enabled: true, resyncIntervalMs: 60_000 });
    await Promise.all([waitForRedis(a), waitForRedis(b)]);
    await waitForSubscribers(prefix, 2);
    const watcher = new Redis(TEST_REDIS_URL);
    const heard: string[] = [];
    watcher.on('message', (_channel: string, message: string) => heard.push(message));
    await watcher.subscribe(`${prefix}breakers`);

    try {
      demo.proxies.products.mode = { kind: 'reset' };
      expect(await openBreakerOn(a)).toBe(4);
      // The shared key says open, for at most A's open period (a later instance reads it).
      const key = `${prefix}breaker:{products}`;
      expect(await eventually(async () => (await admin.exists(key)) === 1, 2_000)).toBe(true);
      expect(JSON.parse((await admin.get(key)) ?? '{}')).toMatchObject({
        v: 1,
        breaker: 'products',
        state: 'open',
        instance: a.gateway.instanceId,
      });
      expect(await admin.pttl(key)).toBeLessThanOrEqual(3_000);
      // Bound: pub/sub delivery, well under a second; 5 s leaves room for a loaded machine.
      expect(await eventually(async () => (await breakerState(b)) === 2, 5_000)).toBe(true);
      expect(await transitions(a, 'open', 'local')).toBe(1);
      expect(await transitions(b, 'open', 'remote')).toBe(1);
      expect(await transitions(b, 'open', 'local')).toBe(0);

      // B refuses without a call: the proxy's count stays flat.
      const hits = demo.proxies.products.hits;
      for (let i = 0; i < 5; i++) {
        const refused = await postAsOperator(b.graphqlUrl, { query: productQuery(100 + i) });
        expect(refused.status).toBe(200);
        expect(refused.body.data).toEqual({ product: null });
        expect(refused.body.errors?.[0]?.extensions).toMatchObject({ code: 'SUBGRAPH_UNAVAILABLE', subgraph: 'products' });
      }
      expect(demo.proxies.products.hits).toBe(hits);
      expect(await metricValue(b, 'gateway_subgraph_requests_total', { subgraph: 'products', result: 'breaker_open' })).toBe(5);

      // B, opened by the message, sent nothing on: one message on the channel.
      expect(await sync(a, 'published')).toBe(1);
      expect(await sync(b, 'published')).toBe(0);
      expect(await sync(b, 'applied')).toBe(1);
      expect(heard.map((message) => JSON.parse(message).state)).toEqual(['open']);

      // Recovery: the subgraph answers again; A half-opens after 3 s, its probe succeeds, A closes, B follows.
      demo.proxies.products.mode = { kind: 'pass' };
      expect(await eventually(async () => (await breakerState(a)) === 1, 10_000)).toBe(true);
      const probe = await postAsOperator(a.graphqlUrl, { query: productQuery(1) });
      expect(probe.body.errors).toBeUndefined();
      expect(await breakerState(a)).toBe(0);
      expect(await eventually(async () => (await breakerState(b)) === 0, 5_000)).toBe(true);
      expect(await transitions(b, 'closed', 'remote')).toBe(1);
      expect(await admin.exists(key)).toBe(0);
      const before = demo.proxies.products.hits;
      const fresh = await postAsOperator(b.graphqlUrl, { query: productQuery(2) });
      expect(fresh.body.errors).toBeUndefined();
      expect(fresh.body.data).toEqual({ product: { upc: 'upc-0002', name: expect.any(String) } });
      expect(demo.proxies.products.hits).toBe(before + 1);
      expect(heard.map((message) => JSON.parse(message).state)).toEqual(['open', 'closed']);
    } finally {
      watcher.disconnect();
    }
  });

  it('tells an instance started later (shared key), and one that missed the message (periodic resync)', async () => {
    const prefix = newPrefix();
    const a = await startGateway(prefix, { resetTimeoutMs: 60_000 }, { enabled: true });
    await waitForRedis(a);
    demo.proxies.products.mode = { kind: 'reset' };
    await openBreakerOn(a);

    // Started after the message went out: reads the key when its subscription connects (no periodic read here).
    const late = await startGateway(prefix, { resetTimeoutMs: 60_000 }, { enabled: true, resyncIntervalMs: 60_000 });
    expect(await eventually(async () => (await breakerState(late)) === 2, 10_000)).toBe(true);
    const hits = demo.proxies.products.hits;
    const refused = await postAsOperator(late.graphqlUrl, { query: productQuery(7) });
    expect(refused.body.errors?.[0]?.extensions).toMatchObject({ code: 'SUBGRAPH_UNAVAILABLE' });
    expect(demo.proxies.products.hits).toBe(hits);

    // No message at all, only the key (as if the message was lost): the periodic read finds it.
    const other = newPrefix();
    const c = await startGateway(other, { resetTimeoutMs: 60_000 }, { enabled: true, resyncIntervalMs: 300 });
    await waitForSubscribers(other, 1);
    expect(await breakerState(c)).toBe(0);
    await admin.set(
      `${other}breaker:{products}`,
      JSON.stringify({ v: 1, breaker: 'products', state: 'open', instance: 'elsewhere', at: Date.now() }),
      'PX',
      60_000,
    );
    expect(await eventually(async () => (await breakerState(c)) === 2, 10_000)).toBe(true);
    expect(await transitions(c, 'open', 'remote')).toBe(1);
  });

  it('ignores stale, garbled and its own messages', async () => {
    const prefix = newPrefix();
    const b = await startGateway(prefix, { resetTimeoutMs: 60_000 }, { enabled: true, maxMessageAgeMs: 2_000, resyncIntervalMs: 60_000 });
    await waitForSubscribers(prefix, 1);
    const channel = `${prefix}breakers`;
    const message = (extra: Record<string, unknown>) =>
      JSON.stringify({ v: 1, breaker: 'products', state: 'open', instance: 'elsewhere', at: Date.now(), ...extra });
    await admin.publish(channel, message({ at: Date.now() - 10_000 }));
    await admin.publish(channel, message({ instance: b.gateway.instanceId }));
    await admin.publish(channel, '{"v":1,"breaker":');
    await admin.publish(channel, message({ state: 'sideways' }));
    // A message about a breaker B does not have marks the end of the bad ones (delivery is in order).
    await admin.publish(channel, message({ breaker: 'no-such-subgraph' }));
    expect(await eventually(async () => (await sync(b, 'ignored')) === 1, 5_000)).toBe(true);
    expect(await sync(b, 'stale')).toBe(1);
    expect(await sync(b, 'applied')).toBe(0);
    expect(await breakerState(b)).toBe(0);
    // A good message after them is taken, so the ones before were seen and dropped.
    await admin.publish(channel, message({}));
    expect(await eventually(async () => (await breakerState(b)) === 2, 5_000)).toBe(true);
    expect(await sync(b, 'applied')).toBe(1);
    expect(await transitions(b, 'open', 'remote')).toBe(1);
  });

  it('keeps each instance on its own breaker when Redis is down', async () => {
    const redis = await startPrivateRedis();
    try {
      const prefix = newPrefix();
      const a = await startGateway(prefix, { resetTimeoutMs: 60_000 }, { enabled: true }, redis.url);
      await waitForRedis(a);
      await redis.stop();
      demo.proxies.products.mode = { kind: 'reset' };
      expect(await openBreakerOn(a)).toBe(4);
      expect(await transitions(a, 'open', 'local')).toBe(1);
      expect(await eventually(async () => (await sync(a, 'publish_failed')) === 1, 5_000)).toBe(true);
      expect(a.logs.find((line) => String(line.msg).startsWith('shared breaker state: publish failed'))).toHaveLength(1);
      // Other subgraphs are served as usual.
      const users = await postAsOperator(a.graphqlUrl, { query: '{ users(first: 1) { totalCount } }' });
      expect(users.body.errors).toBeUndefined();
    } finally {
      await redis.stop();
    }
  });
});

describe('shared breaker state off (the default)', () => {
  it('leaves B closed when A opens: B keeps calling the failing subgraph itself', async () => {
    const prefix = newPrefix();
    const a = await startGateway(prefix, { resetTimeoutMs: 60_000 }, {});
    const b = await startGateway(prefix, { resetTimeoutMs: 60_000 }, {});
    await Promise.all([waitForRedis(a), waitForRedis(b)]);
    demo.proxies.products.mode = { kind: 'reset' };
    await openBreakerOn(a);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await breakerState(b)).toBe(0);
    const hits = demo.proxies.products.hits;
    for (let i = 0; i < 3; i++) await postAsOperator(b.graphqlUrl, { query: productQuery(200 + i) });
    expect(demo.proxies.products.hits).toBe(hits + 3);
    expect(await admin.exists(`${prefix}breaker:{products}`)).toBe(0);
    const [, subscribers] = (await admin.call('PUBSUB', 'NUMSUB', `${prefix}breakers`)) as [string, number];
    expect(Number(subscribers)).toBe(0);
  });
});

describe('shared breaker configuration', () => {
  it('is off by default, and refused without Redis', () => {
    expect(loadConfig({ env: {} }).resilience.sharedBreakers).toEqual({ enabled: false, resyncIntervalMs: 5_000, maxMessageAgeMs: 5_000 });
    expect(() => loadConfig({ env: {}, overrides: { resilience: { sharedBreakers: { enabled: true } } } })).toThrow(
      /resilience\.sharedBreakers\.enabled: sharing breaker state needs redis\.url or redis\.cluster/,
    );
    expect(() =>
      loadConfig({
        env: {},
        overrides: { resilience: { sharedBreakers: { enabled: true, resyncIntervalMs: 0 } }, redis: { url: TEST_REDIS_URL } },
      }),
    ).toThrow(/resilience\.sharedBreakers\.resyncIntervalMs/);
  });
});
