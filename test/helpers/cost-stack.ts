import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { DEV_ISSUER, signDevToken } from '../../gateway/src/auth/dev-secret.js';
import type { GatewayConfigInput } from '../../gateway/src/config/index.js';
import { startCountingProxy, type CountingProxy } from './counting-proxy.js';
import { startDemoSubgraphs, DEMO_SUPERGRAPH, type DemoSubgraphs } from './subgraphs.js';
import { startTestGateway, type TestGateway } from './gateway.js';

export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Nine points, whatever the tier: three products at 1 each, plus inStock at 2 each; actual = estimate. */
export const NINE_POINTS = 'query Top { topProducts(first: 3) { upc name inStock } }';

export const bucket = (name: string, capacity: number, refillPerSecond: number) => ({
  name,
  kind: 'token_bucket' as const,
  capacity,
  refillPerSecond,
});

/** The demo subgraphs, each behind a proxy that counts the requests that reach it. */
export interface CountedSubgraphs {
  subgraphs: DemoSubgraphs;
  proxies: Record<'users' | 'orders' | 'products', CountingProxy>;
  /** Requests that reached any subgraph so far. */
  total(): number;
  close(): Promise<void>;
}

export async function startCountedSubgraphs(): Promise<CountedSubgraphs> {
  const subgraphs = await startDemoSubgraphs();
  const proxies = {
    users: await startCountingProxy(subgraphs.urls.users),
    orders: await startCountingProxy(subgraphs.urls.orders),
    products: await startCountingProxy(subgraphs.urls.products),
  };
  return {
    subgraphs,
    proxies,
    total: () => proxies.users.count + proxies.orders.count + proxies.products.count,
    close: async () => {
      await Promise.all(Object.values(proxies).map((proxy) => proxy.close()));
      await subgraphs.close();
    },
  };
}

/** A key prefix of its own for one test, so that it cleans only what it made. */
export function testKeyPrefix(name: string): string {
  return `test:${name}:${randomBytes(4).toString('hex')}:`;
}

/** A gateway on the demo supergraph through the counting proxies, trusting the dev issuer, with rate-limit extensions on. */
export async function startCostGateway(counted: CountedSubgraphs, overrides: GatewayConfigInput): Promise<TestGateway> {
  const gw = await startTestGateway({
    supergraph: { path: DEMO_SUPERGRAPH, watch: false },
    auth: { jwt: { issuers: [DEV_ISSUER] } },
    subgraphs: {
      users: { url: counted.proxies.users.url },
      orders: { url: counted.proxies.orders.url },
      products: { url: counted.proxies.products.url },
    },
    ...overrides,
    // waitForRedis reads /ready's Redis status, which is behind server.readinessDetail.
    server: { readinessDetail: true, ...overrides.server },
    rateLimit: { extensions: true, ...overrides.rateLimit },
  });
  if (gw.gateway.config.redis.url || gw.gateway.config.redis.cluster) await waitForRedis(gw);
  return gw;
}

/** The gateway's Redis connection is ready (requests before that would fail over at once). */
export async function waitForRedis(gw: TestGateway): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const ready = (await (await fetch(`${gw.url}/ready`)).json()) as { redis: { status: string } };
    if (ready.redis.status === 'ready') return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('the gateway did not connect to Redis');
}

/** Deletes every key under the prefix. */
export async function deleteKeys(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url);
  try {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
  } finally {
    redis.disconnect();
  }
}

export async function bearer(sub: string, tier: string): Promise<Record<string, string>> {
  return { authorization: `Bearer ${await signDevToken({ sub, tier })}` };
}
