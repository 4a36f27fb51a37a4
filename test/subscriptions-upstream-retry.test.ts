import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { DEV_ISSUER } from '../gateway/src/auth/dev-secret.js';
import { devBearer } from './helpers/auth.js';
import { startBlackhole } from './helpers/blackhole.js';
import { startTestGateway, type TestGateway } from './helpers/gateway.js';
import { freePort } from './helpers/ports.js';
import { DEMO_SUPERGRAPH, startDemoSubgraphs, type DemoSubgraphs } from './helpers/subgraphs.js';
import { useWsClients } from './helpers/ws-clients.js';

// The orders subgraph, which serves `orderCreated`, is an address where nothing listens: every
// connection the gateway opens to it is refused, and it waits before each reconnect.
let subgraphs: DemoSubgraphs;
let gw: TestGateway;
beforeAll(async () => {
  subgraphs = await startDemoSubgraphs();
  gw = await startTestGateway({
    supergraph: { path: DEMO_SUPERGRAPH, watch: false },
    auth: { jwt: { issuers: [DEV_ISSUER] } },
    subgraphs: {
      users: { url: subgraphs.urls.users },
      orders: { url: `http://127.0.0.1:${await freePort()}/graphql` },
      products: { url: subgraphs.urls.products },
    },
    // The first reconnect waits 200-400 ms (jitter halves the wait).
    subscriptions: { upstreamRetryAttempts: 3, upstreamRetryBaseMs: 400, upstreamRetryMaxMs: 400 },
  });
});
afterAll(async () => {
  await gw?.close();
  await subgraphs?.close();
});

const wsClient = useWsClients(() => gw.graphqlUrl);

describe('a subscription that ends while the gateway waits to reconnect to its subgraph', () => {
  it('ends without an unhandled rejection (the reconnect it gave up on has nothing to close)', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const client = wsClient({ authorization: (await devBearer('user-1')).authorization });
      client.subscribe(
        { query: 'subscription { orderCreated { id } }' },
        { next: () => undefined, error: () => undefined, complete: () => undefined },
      );
      // Once the subscription runs, its first connection to orders is refused at once and the gateway
      // waits to reconnect. (Polled: under a loaded machine the subscription can take over 100 ms to start.)
      const active = async () =>
        ((await gw.gateway.metrics.registry.getSingleMetric('gateway_subscriptions_active')?.get())?.values ?? []).some((v) => v.value > 0);
      for (let i = 0; i < 500 && !(await active()); i++) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(await active()).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 100));
      await client.dispose();
      const ended = () => gw.logs.lines.some((line) => line.msg === 'subscription ended');
      for (let i = 0; i < 200 && !ended(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(ended()).toBe(true);
      // Past the reconnect wait, when the given-up connection attempt settles.
      await new Promise((resolve) => setTimeout(resolve, 600));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});

/**
 * A WebSocket server that accepts the upgrade and never sends `connection_ack`; `hung`: nor reads
 * anything after it, so a closing frame goes unanswered (a process stuck after the upgrade).
 */
async function startSilentServer(hung = false): Promise<{ origin: string; close(): Promise<void> }> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  if (hung) server.on('connection', (_socket, request) => request.socket.pause());
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of server.clients) socket.terminate();
        server.close(() => resolve());
      }),
  };
}

describe.each([
  { what: 'never completes the WebSocket handshake (its accept queue is full)', start: startBlackhole },
  { what: 'accepts the WebSocket and never acknowledges the connection', start: () => startSilentServer() },
  { what: 'accepts the WebSocket and hangs (it answers no closing frame either)', start: () => startSilentServer(true) },
])('a subgraph that $what', ({ start }) => {
  let upstream: { origin: string; close(): Promise<void> };
  let silent: TestGateway;
  beforeAll(async () => {
    upstream = await start();
    silent = await startTestGateway({
      supergraph: { path: DEMO_SUPERGRAPH, watch: false },
      auth: { jwt: { issuers: [DEV_ISSUER] } },
      subgraphs: { users: { url: subgraphs.urls.users }, products: { url: subgraphs.urls.products } },
      subscriptions: {
        subgraphs: { orders: { url: `${upstream.origin.replace(/^http/, 'ws')}/graphql` } },
        upstreamConnectTimeoutMs: 200,
        upstreamRetryAttempts: 1,
        upstreamRetryBaseMs: 10,
        upstreamRetryMaxMs: 10,
      },
    });
  });
  afterAll(async () => {
    await silent?.close();
    await upstream?.close();
  });
  const silentClient = useWsClients(() => silent.graphqlUrl);

  it('is given up after upstreamConnectTimeoutMs per attempt: SUBSCRIPTION_UPSTREAM_FAILED, then complete', async () => {
    const client = silentClient({ authorization: (await devBearer('user-2')).authorization });
    const received: unknown[] = [];
    const done = new Promise<string>((resolve) =>
      client.subscribe(
        { query: 'subscription { orderCreated { id } }' },
        { next: (value) => void received.push(value), error: () => resolve('error'), complete: () => resolve('complete') },
      ),
    );
    // Two attempts of 200 ms and a 10 ms wait. Without the deadline a dropped SYN waits for the
    // kernel (minutes) and a connection never acknowledged waits for ever.
    const outcome = await Promise.race([done, new Promise((resolve) => setTimeout(() => resolve('still waiting'), 4_000))]);
    expect(outcome).toBe('complete');
    expect(received).toEqual([{ errors: [expect.objectContaining({ extensions: { code: 'SUBSCRIPTION_UPSTREAM_FAILED' } })] }]);
  });
});
