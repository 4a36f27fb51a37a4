import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll } from 'vitest';
import type { GatewayConfigInput } from '../../gateway/src/config/index.js';
import type { GatewayOptions } from '../../gateway/src/server.js';
import { startFaultProxy, type FaultProxy } from './fault-proxy.js';
import { DEV_ISSUER } from '../../gateway/src/auth/dev-secret.js';
import { devBearer } from './auth.js';
import { postGraphql, startTestGateway, type GraphqlResult, type TestGateway } from './gateway.js';
import { startDemoSubgraphs, type DemoSubgraphs } from './subgraphs.js';

export const SUPERGRAPH = fileURLToPath(new URL('../../schema/supergraph.graphql', import.meta.url));
export const PRODUCTS_STATIC = fileURLToPath(new URL('../../schema/fallbacks/products.json', import.meta.url));

export type SubgraphKey = 'users' | 'orders' | 'products';

/** The demo subgraphs, each behind a fault proxy the test can slow down, break and kill. */
export interface FaultyDemo {
  subgraphs: DemoSubgraphs;
  proxies: Record<SubgraphKey, FaultProxy>;
  close(): Promise<void>;
}

export async function startFaultyDemo(): Promise<FaultyDemo> {
  const subgraphs = await startDemoSubgraphs();
  const [users, orders, products] = await Promise.all([
    startFaultProxy(subgraphs.urls.users),
    startFaultProxy(subgraphs.urls.orders),
    startFaultProxy(subgraphs.urls.products),
  ]);
  const proxies = { users, orders, products };
  return {
    subgraphs,
    proxies,
    async close() {
      await Promise.all(Object.values(proxies).map((p) => p.close()));
      await subgraphs.close();
    },
  };
}

/** A gateway in front of the proxies; `subgraphs` overrides are merged per subgraph over the proxy URLs. */
export function startGatewayOn(
  demo: FaultyDemo,
  config: Omit<GatewayConfigInput, 'subgraphs'> & { subgraphs?: Partial<Record<SubgraphKey, Record<string, unknown>>> } = {},
  options: Omit<GatewayOptions, 'logDestination'> = {},
): Promise<TestGateway> {
  const { subgraphs = {}, ...rest } = config;
  const urls = Object.fromEntries(
    (Object.keys(demo.proxies) as SubgraphKey[]).map((name) => [name, { url: demo.proxies[name].url, ...subgraphs[name] }]),
  );
  return startTestGateway(
    {
      supergraph: { path: SUPERGRAPH, watch: false },
      auth: { jwt: { issuers: [DEV_ISSUER] } },
      ...rest,
      subgraphs: urls as GatewayConfigInput['subgraphs'],
    },
    options,
  );
}

/**
 * Posts as the fault tests' operator: a demo user (user-3) who may read every user's orders, place
 * orders and read emails, so one token serves every query these tests send.
 */
export async function postAsOperator(
  url: string,
  payload: Parameters<typeof postGraphql>[1],
  headers: Record<string, string> = {},
): Promise<GraphqlResult> {
  return postGraphql(url, payload, { ...(await devBearer('user-3', ['orders:read:all', 'orders:write', 'read:email'])), ...headers });
}

/** The value of one Prometheus series in the gateway's registry (0 when absent). */
export async function metricValue(gw: TestGateway, name: string, labels: Record<string, string>): Promise<number> {
  const metric = await gw.gateway.metrics.registry.getSingleMetric(name)?.get();
  const match = metric?.values.find((v) => Object.entries(labels).every(([k, value]) => String(v.labels[k]) === value));
  return match?.value ?? 0;
}

/** Polls `check` every 50 ms until it holds, at most `maxMs`; returns whether it held. */
export async function eventually(check: () => boolean | Promise<boolean>, maxMs = 5_000): Promise<boolean> {
  const deadline = Date.now() + maxMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Runs `run` and says how long it took (ms). */
export async function timed<T>(run: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await run();
  return { value, ms: performance.now() - started };
}

export interface FaultyDemoSuite {
  /** The demo behind its proxies, started once for the file. */
  readonly demo: FaultyDemo;
  /** Starts this test's gateway (see {@link startGatewayOn}); it is closed after the test. */
  start(...args: Parameters<typeof startGatewayOn> extends [FaultyDemo, ...infer Rest] ? Rest : never): Promise<TestGateway>;
}

/**
 * Registers the hooks of a fault-injection test file: the demo behind fault proxies for the whole
 * file; after each test, its gateway closed and every proxy alive, passing and with zeroed counters.
 */
export function useFaultyDemo(): FaultyDemoSuite {
  let demo: FaultyDemo | undefined;
  let gateway: TestGateway | undefined;
  beforeAll(async () => {
    demo = await startFaultyDemo();
  });
  afterEach(async () => {
    await gateway?.close();
    gateway = undefined;
    for (const proxy of Object.values(demo?.proxies ?? {})) {
      await proxy.revive();
      proxy.mode = { kind: 'pass' };
      proxy.resetCounters();
    }
  });
  afterAll(async () => {
    await demo?.close();
  });
  return {
    get demo() {
      if (!demo) throw new Error('the demo starts in beforeAll');
      return demo;
    },
    async start(config, options) {
      await gateway?.close();
      gateway = await startGatewayOn(this.demo, config, options);
      return gateway;
    },
  };
}
