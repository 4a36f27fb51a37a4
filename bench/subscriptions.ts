/**
 * `npm run bench:subscriptions [-- --subscribers 1000 --identities 1000 --rate 1 --duration 10 --gateways ours,hive]`:
 * events per second delivered and the delay from the subgraph's publish to the client, for N
 * concurrent subscribers, on this gateway and on Hive Gateway, over the demo subgraphs.
 *
 * The demo subgraphs run in one child process (bench/subscription-subgraphs.ts); each gateway in
 * another. The bench opens N graphql-ws clients, each on its own WebSocket with its own token (a
 * user with `orders:read:all`, so every subscriber is meant to get every new order; by default a
 * different user each, `--identities K` spreads them over K users in turn),
 * subscribed to `orderCreated` with fields from all three subgraphs. Warm-up: an order every 500 ms
 * until every subscriber has had one (so every upstream subscription is live). Then RATE orders a
 * second for DURATION seconds, each stamped by the subgraph with its publish time, and up to
 * DRAIN_S seconds for the last to arrive. Each client stamps each event on receipt; the bench checks
 * that every subscriber got every measured order once, in publish order (FAILURE otherwise).
 * Gateway RSS (process tree, /proc) before subscribing, with N subscribers, and after publishing.
 *
 * Everything (clients, gateway, subgraphs, Redis) shares this machine's cores: the delays include
 * the bench's own event loop receiving N × RATE messages a second.
 */
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createClient, type Client } from 'graphql-ws';
import { Redis } from 'ioredis';
import { SignJWT } from 'jose';
import WebSocket from 'ws';
import { JWT_SECRET, ROOT, freePort, startChild, stop, tsx, waitForGraphql, writeSupergraph } from './harness.js';
import { rssBytes } from './process-stats.js';
import { checkDelivery, percentile } from './subscription-stats.js';

const { values: args } = parseArgs({
  options: {
    subscribers: { type: 'string', default: '1000' },
    /** How many different users the subscribers are (in turn); unset: one each. */
    identities: { type: 'string' },
    rate: { type: 'string', default: '1' },
    duration: { type: 'string', default: '10' },
    gateways: { type: 'string', default: 'ours,hive' },
  },
});
const SUBSCRIBERS = Number(args.subscribers);
const IDENTITIES = Number(args.identities ?? args.subscribers);
const RATE = Number(args.rate);
const DURATION_S = Number(args.duration);
const DRAIN_S = 20;
const WARMUP_LIMIT_S = 90;
const OPEN_IN_PARALLEL = 50;
const QUERY = 'subscription { orderCreated { id status user { name } items { quantity product { name price } } } }';

const prefix = `bench-subs:${randomBytes(3).toString('hex')}:`;
const children: ChildProcess[] = [];
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface OrderEventResult {
  data?: { orderCreated?: { id: string; user?: { name?: string } | null; items?: { product?: { name?: string } | null }[] } | null };
  errors?: unknown[];
}

class Subscriber {
  readonly ids: string[] = [];
  readonly times: number[] = [];
  /** Events without the user or a product, or with errors (a failed federated fetch). */
  readonly incompleteIds = new Set<string>();
  sampleError?: string;
  errors = 0;
  /** The close code if the gateway closed its WebSocket during the run (e.g. 4413, a slow consumer). */
  closeCode?: number;
  constructor(readonly client: Client) {}
  start(): void {
    this.client.on('closed', (event) => (this.closeCode ??= (event as { code?: number }).code));
    this.client.subscribe(
      { query: QUERY },
      {
        next: (value) => {
          const at = now();
          const result = value as OrderEventResult;
          const order = result.data?.orderCreated;
          if (!order) return void this.errors++;
          // Federated: the user from users, every line's product from products.
          const complete =
            !result.errors && !!order.user?.name && !!order.items?.length && order.items.every((line) => !!line.product?.name);
          if (!complete) this.incompleteIds.add(order.id);
          this.sampleError ??= (result.errors?.[0] as { message?: string } | undefined)?.message;
          this.ids.push(order.id);
          this.times.push(at);
        },
        error: () => void this.errors++,
        complete: () => undefined,
      },
    );
  }
}

/** The subgraph process: publishes on request, reports each order's id and publish time. */
class Publisher {
  readonly publishedAt = new Map<string, number>();
  readonly order: string[] = [];
  private subscriberWaiters: ((count: number) => void)[] = [];
  constructor(private readonly child: ChildProcess) {
    child.on('message', (message: { type: string; id?: string; at?: number; count?: number }) => {
      if (message.type === 'published' && message.id && message.at) {
        this.publishedAt.set(message.id, message.at);
        this.order.push(message.id);
      } else if (message.type === 'subscribers') {
        this.subscriberWaiters.shift()?.(message.count ?? 0);
      }
    });
  }
  publish(): void {
    this.child.send({ type: 'publish' });
  }
  subscriberCount(): Promise<number> {
    return new Promise((resolve) => {
      this.subscriberWaiters.push(resolve);
      this.child.send({ type: 'subscribers' });
    });
  }
}

interface Gateway {
  name: string;
  description: string;
  start(port: number, supergraph: string, subgraphUrls: Record<string, string>): ChildProcess;
}

function oursConfig(): string {
  const yaml = `logging: { level: warn }
metrics: { enabled: true }
redis: { url: "redis://127.0.0.1:6379", keyPrefix: "${prefix}" }
auth:
  jwt:
    issuers:
      - { issuer: bench, audience: bench, algorithms: [HS256], secretEnv: BENCH_JWT_SECRET }
rateLimit:
  store: redis
  defaultTier: enterprise
  tiers:
    enterprise:
      { maxCost: 100000, maxDepth: 20, maxAliases: 100, maxRootFields: 50, limits: [{ name: burst, kind: token_bucket, capacity: 1000000000, refillPerSecond: 100000000 }] }
# With --identities, one user holds many of the subscribers' connections.
subscriptions: { perClient: { maxConnections: ${SUBSCRIBERS}, maxSubscriptions: ${SUBSCRIBERS} } }
`;
  const path = join(mkdtempSync(join(tmpdir(), 'bench-subs-')), 'gateway.yaml');
  writeFileSync(path, yaml);
  return path;
}

/** Hive Gateway subscribes to the orders subgraph over graphql-transport-ws, telling it who is asking in the upgrade's headers. */
function hiveDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'bench-hive-subs-'));
  const wsEntry = {
    kind: 'ws',
    location: '/graphql',
    headers: [
      ['x-user-id', 'bench-hive'],
      ['x-user-scopes', 'orders:read:all'],
    ],
  };
  writeFileSync(
    join(dir, 'gateway.config.mjs'),
    `export const gatewayConfig = ${JSON.stringify({ transportEntries: { orders: { options: { subscriptions: wsEntry } } } }, null, 2)};\n`,
  );
  return dir;
}

const GATEWAYS: Gateway[] = [
  {
    name: 'ours',
    description: 'this gateway: JWT per connection, cost charged in Redis at subscribe and per event, metrics on, log level warn',
    start: (port, supergraph) =>
      tsx('bench/gateway-process.ts', ['ours'], { BENCH_PORT: String(port), BENCH_SUPERGRAPH: supergraph, BENCH_CONFIG: oursConfig() }),
  },
  {
    name: 'hive',
    description:
      '@graphql-hive/gateway CLI (`hive-gateway supergraph`), its subscriptions to the orders subgraph over WebSocket (gateway.config.mjs), no auth',
    start: (port, supergraph) =>
      spawn(join(ROOT, 'node_modules/.bin/hive-gateway'), ['supergraph', supergraph, '--host', '127.0.0.1', '--port', String(port)], {
        cwd: hiveDir(),
        env: { ...process.env, NODE_ENV: 'production' },
        stdio: ['ignore', 'ignore', 'inherit'],
      }),
  },
];

const token = (i: number) =>
  new SignJWT({ scope: 'orders:read:all', tier: 'enterprise' })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer('bench')
    .setAudience('bench')
    .setSubject(`bench-subscriber-${i}`)
    .setIssuedAt()
    .setExpirationTime('2h')
    .sign(new TextEncoder().encode(JWT_SECRET));

async function openSubscribers(wsUrl: string): Promise<Subscriber[]> {
  const subscribers: Subscriber[] = [];
  for (let first = 0; first < SUBSCRIBERS; first += OPEN_IN_PARALLEL) {
    const batch = Array.from({ length: Math.min(OPEN_IN_PARALLEL, SUBSCRIBERS - first) }, (_, k) => first + k);
    await Promise.all(
      batch.map(async (i) => {
        const authorization = `Bearer ${await token(i % IDENTITIES)}`;
        const client = createClient({
          url: wsUrl,
          webSocketImpl: WebSocket,
          connectionParams: { authorization },
          retryAttempts: 0,
          // Counted per subscriber (closeCode), not printed.
          onNonLazyError: () => undefined,
          lazy: false,
        });
        await new Promise<void>((resolve, reject) => {
          client.on('connected', () => resolve());
          client.on('closed', (event) => reject(new Error(`subscriber ${i} closed before connecting: ${JSON.stringify(event)}`)));
        });
        const subscriber = new Subscriber(client);
        subscriber.start();
        subscribers.push(subscriber);
      }),
    );
  }
  return subscribers;
}

interface Run {
  gateway: Gateway;
  error?: string;
  published: number;
  deliveries: number;
  eventsPerSecond: number;
  p50: number;
  p99: number;
  max: number;
  missing: number;
  duplicated: number;
  outOfOrder: number;
  incomplete: number;
  errors: number;
  /** Subscribers whose WebSocket the gateway closed during the run, by close code. */
  closed: Record<string, number>;
  sampleError?: string;
  rssBefore: number;
  rssWith: number;
  rssEnd: number;
}

async function warmUp(publisher: Publisher, subscribers: Subscriber[]): Promise<void> {
  const deadline = Date.now() + WARMUP_LIMIT_S * 1000;
  while (subscribers.some((s) => s.ids.length === 0)) {
    if (Date.now() > deadline) {
      const waiting = subscribers.filter((s) => s.ids.length === 0).length;
      throw new Error(`${waiting} of ${subscribers.length} subscribers had no event after ${WARMUP_LIMIT_S} s of warm-up`);
    }
    publisher.publish();
    await sleep(500);
  }
}

async function measure(gateway: Gateway, publisher: Publisher, supergraph: string, urls: Record<string, string>): Promise<Run> {
  const port = await freePort();
  const child = gateway.start(port, supergraph, urls);
  children.push(child);
  const url = `http://127.0.0.1:${port}/graphql`;
  await waitForGraphql(url, child);
  const pid = child.pid ?? 0;
  await sleep(2000);
  const rssBefore = rssBytes(pid);
  const subscribers = await openSubscribers(url.replace(/^http/, 'ws'));
  try {
    await warmUp(publisher, subscribers);
    await sleep(1000);
    const rssWith = rssBytes(pid);
    const upstream = await publisher.subscriberCount();
    process.stderr.write(`${gateway.name}: ${subscribers.length} subscribed, ${upstream} subscriptions on the orders subgraph\n`);
    const measuredFrom = publisher.order.length;
    const total = Math.round(RATE * DURATION_S);
    const started = now();
    for (let i = 0; i < total; i++) {
      publisher.publish();
      const next = started + ((i + 1) * 1000) / RATE;
      await sleep(Math.max(0, next - now()));
    }
    // Every publish has been answered before the bench reads the order list.
    while (publisher.order.length < measuredFrom + total) await sleep(10);
    const expected = publisher.order.slice(measuredFrom);
    const expectedSet = new Set(expected);
    const drainUntil = Date.now() + DRAIN_S * 1000;
    const got = (s: Subscriber) => s.ids.filter((id) => expectedSet.has(id)).length;
    while (Date.now() < drainUntil && subscribers.some((s) => got(s) < expected.length)) await sleep(200);
    const rssEnd = rssBytes(pid);
    return summarize(gateway, publisher, subscribers, expected, { rssBefore, rssWith, rssEnd });
  } finally {
    await Promise.all(subscribers.map((s) => s.client.dispose()));
    await stop(child);
  }
}

function summarize(
  gateway: Gateway,
  publisher: Publisher,
  subscribers: Subscriber[],
  expected: string[],
  rss: { rssBefore: number; rssWith: number; rssEnd: number },
): Run {
  const expectedSet = new Set(expected);
  const delays: number[] = [];
  let missing = 0;
  let duplicated = 0;
  let outOfOrder = 0;
  let lastReceipt = 0;
  for (const s of subscribers) {
    const delivery = checkDelivery(expected, s.ids);
    missing += delivery.missing;
    duplicated += delivery.duplicated;
    outOfOrder += delivery.outOfOrder;
    s.ids.forEach((id, i) => {
      if (!expectedSet.has(id)) return;
      const at = s.times[i] as number;
      delays.push(at - (publisher.publishedAt.get(id) as number));
      lastReceipt = Math.max(lastReceipt, at);
    });
  }
  delays.sort((a, b) => a - b);
  const firstPublish = publisher.publishedAt.get(expected[0] as string) ?? lastReceipt;
  return {
    gateway,
    published: expected.length,
    deliveries: delays.length,
    eventsPerSecond: delays.length / ((lastReceipt - firstPublish) / 1000 || 1),
    p50: percentile(delays, 50),
    p99: percentile(delays, 99),
    max: delays.at(-1) ?? Number.NaN,
    missing,
    duplicated,
    outOfOrder,
    incomplete: subscribers.reduce((sum, s) => sum + expected.filter((id) => s.incompleteIds.has(id)).length, 0),
    sampleError: subscribers.find((s) => s.sampleError)?.sampleError,
    errors: subscribers.reduce((sum, s) => sum + s.errors, 0),
    closed: subscribers.reduce<Record<string, number>>((codes, s) => {
      if (s.closeCode !== undefined) codes[s.closeCode] = (codes[s.closeCode] ?? 0) + 1;
      return codes;
    }, {}),
    ...rss,
  };
}

const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(0);
const ms = (value: number) => (Number.isNaN(value) ? 'n/a' : value.toFixed(1));

function report(runs: Run[]): string {
  const lines = [
    `Subscriptions, ${new Date().toISOString().slice(0, 10)}, ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}), Node ${process.version}; clients, gateway, subgraphs and Redis share them.`,
    `${SUBSCRIBERS} graphql-ws subscribers, each on its own WebSocket with its own token (${IDENTITIES === SUBSCRIBERS ? 'a different user each' : `${IDENTITIES} users in turn`}), to \`orderCreated\` with fields from all three subgraphs; every subscriber gets every order. ${RATE} orders/s for ${DURATION_S} s after a warm-up.`,
    '',
    ...runs.map((r) => `- **${r.gateway.name}**: ${r.gateway.description}`),
    '',
    '| gateway | result | orders published | events delivered | events/s delivered | p50 delay ms | p99 delay ms | max ms | missing | duplicated | out of order | incomplete | errors | RSS before MB | RSS with N MB | RSS at end MB | KB per subscriber |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of runs) {
    if (r.error) {
      lines.push(`| ${r.gateway.name} | could not run: ${r.error.replaceAll('|', '/')} |${' n/a |'.repeat(15)}`);
      continue;
    }
    const ok = r.missing === 0 && r.duplicated === 0 && r.outOfOrder === 0 && r.incomplete === 0 && r.errors === 0;
    const perSubscriber = ((r.rssWith - r.rssBefore) / 1024 / SUBSCRIBERS).toFixed(0);
    lines.push(
      `| ${r.gateway.name} | ${ok ? 'OK' : 'FAILURE'} | ${r.published} | ${r.deliveries} | ${r.eventsPerSecond.toFixed(0)} | ${ms(r.p50)} | ${ms(r.p99)} | ${ms(r.max)} | ${r.missing} | ${r.duplicated} | ${r.outOfOrder} | ${r.incomplete} | ${r.errors} | ${mb(r.rssBefore)} | ${mb(r.rssWith)} | ${mb(r.rssEnd)} | ${perSubscriber} |`,
    );
  }
  lines.push('');
  for (const r of runs) {
    const closed = Object.entries(r.closed).map(([code, count]) => `${count} with ${code}`);
    if (r.sampleError) lines.push(`${r.gateway.name}: first error seen in an event: ${r.sampleError}`);
    if (closed.length) lines.push(`${r.gateway.name}: the gateway closed subscribers' WebSockets during the run: ${closed.join(', ')}.`);
  }
  lines.push(
    'Incomplete: measured events with an error or without the user or a product (a failed federated fetch); errors: error results or events without data (any phase).',
  );
  return lines.join('\n');
}

async function main(): Promise<boolean> {
  const { child, info } = await startChild<{ urls: Record<string, string> }>(join(ROOT, 'bench/subscription-subgraphs.ts'));
  children.push(child);
  const publisher = new Publisher(child);
  const supergraph = writeSupergraph(info.urls);
  const wanted = (args.gateways ?? '').split(',');
  const runs: Run[] = [];
  for (const gateway of GATEWAYS.filter((g) => wanted.includes(g.name))) {
    try {
      runs.push(await measure(gateway, publisher, supergraph, info.urls));
    } catch (error) {
      const empty = { published: 0, deliveries: 0, eventsPerSecond: 0, p50: NaN, p99: NaN, max: NaN, missing: 0, duplicated: 0 };
      runs.push({
        gateway,
        error: (error as Error).message,
        ...empty,
        outOfOrder: 0,
        incomplete: 0,
        errors: 0,
        closed: {},
        rssBefore: 0,
        rssWith: 0,
        rssEnd: 0,
      });
    }
  }
  console.log(report(runs));
  return runs.some((r) => r.gateway.name === 'ours' && (r.error || r.missing + r.duplicated + r.outOfOrder + r.incomplete + r.errors > 0));
}

let failed = true;
try {
  failed = await main();
} finally {
  await Promise.all(children.map((child) => stop(child)));
  const redis = new Redis('redis://127.0.0.1:6379');
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
}
process.exit(failed ? 1 : 0);
