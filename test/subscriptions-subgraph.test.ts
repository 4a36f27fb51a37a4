import { createClient, type Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { catalogueProducts } from '../subgraphs/shared/catalogue.js';
import { DEMO_ORDER_COUNT } from '../subgraphs/shared/demo-dataset.js';
import { startOrdersSubgraph, type OrdersSubgraphServer } from '../subgraphs/orders/index.js';

/** The demo orders subgraph's own subscriptions, over graphql-transport-ws (what the gateway subscribes to). */

interface Received {
  data?: Record<string, { id: string; status: string; user?: { id: string } } | null> | null;
  errors?: { message: string; extensions?: { code?: string } }[];
}

function wsClient(url: string, headers: Record<string, string>): Client {
  return createClient({ url: url.replace(/^http/, 'ws'), webSocketImpl: WebSocket, connectionParams: { headers }, retryAttempts: 0 });
}

/** Subscribes and collects results until `count` arrived (or the subscription ended). */
function collect(client: Client, query: string, variables: Record<string, unknown>, count: number): Promise<Received[]> {
  return new Promise((resolve, reject) => {
    const seen: Received[] = [];
    const stop = client.subscribe<Received['data']>(
      { query, variables },
      {
        next: (value) => {
          seen.push(value as Received);
          if (seen.length === count) {
            stop();
            resolve(seen);
          }
        },
        error: (error) => (Array.isArray(error) ? resolve([{ errors: error as Received['errors'] }]) : reject(error as Error)),
        complete: () => resolve(seen),
      },
    );
  });
}

async function placeOrder(server: OrdersSubgraphServer, userId: string): Promise<string> {
  const upc = catalogueProducts()[0]!.upc;
  const response = await fetch(server.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-user-id': userId, 'x-user-scopes': 'orders:write' },
    body: JSON.stringify({ query: `mutation { createOrder(input: { items: [{ upc: "${upc}", quantity: 1 }] }) { id } }` }),
  });
  const body = (await response.json()) as { data: { createOrder: { id: string } } };
  return body.data.createOrder.id;
}

const waitFor = async (check: () => boolean) => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
};

describe('the orders subgraph serves subscriptions over graphql-transport-ws', () => {
  let server: OrdersSubgraphServer;
  const clients: Client[] = [];
  beforeAll(async () => {
    server = await startOrdersSubgraph({ host: '127.0.0.1', port: 0, tickerMs: 0 });
  });
  afterAll(async () => {
    await Promise.all(clients.map((client) => client.dispose()));
    await server?.close();
  });
  const client = (headers: Record<string, string>) => {
    const made = wsClient(server.url, headers);
    clients.push(made);
    return made;
  };

  it("sends a caller its own new orders only, and everyone's with orders:read:all", async () => {
    const mine = collect(client({ 'x-user-id': 'user-1' }), 'subscription { orderCreated { id status user { id } } }', {}, 1);
    const all = collect(
      client({ 'x-user-id': 'user-9', 'x-user-scopes': 'orders:read:all' }),
      'subscription { orderCreated { id } }',
      {},
      2,
    );
    await waitFor(() => server.store.events.subscriberCount === 2);
    const other = await placeOrder(server, 'user-2');
    const own = await placeOrder(server, 'user-1');
    expect(await mine).toEqual([{ data: { orderCreated: { id: own, status: 'PENDING', user: { id: 'user-1' } } } }]);
    expect(await all).toEqual([{ data: { orderCreated: { id: other } } }, { data: { orderCreated: { id: own } } }]);
  });

  it('refuses an anonymous subscriber', async () => {
    const [result] = await collect(client({}), 'subscription { orderCreated { id } }', {}, 1);
    expect(result?.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('the ticker moves an order PENDING → PAID → SHIPPED → DELIVERED, one orderStatusChanged each, in order; a cancel fires one too', async () => {
    const ticking = await startOrdersSubgraph({ host: '127.0.0.1', port: 0, tickerMs: 20 });
    const watcher = wsClient(ticking.url, { 'x-user-id': 'user-3' });
    try {
      // A fresh store numbers its first new order right after the seeded ones: subscribe before it exists.
      const id = `order-${DEMO_ORDER_COUNT + 1}`;
      const statuses = collect(watcher, 'subscription($id: ID!) { orderStatusChanged(id: $id) { id status } }', { id }, 3);
      await waitFor(() => ticking.store.events.subscriberCount === 1);
      expect(await placeOrder(ticking, 'user-3')).toBe(id);
      const events = await statuses;
      expect(events.map((event) => event.data?.orderStatusChanged?.status)).toEqual(['PAID', 'SHIPPED', 'DELIVERED']);
    } finally {
      await watcher.dispose();
      await ticking.close();
    }
    const id = await placeOrder(server, 'user-4');
    const cancelled = collect(
      client({ 'x-user-id': 'user-4' }),
      'subscription($id: ID!) { orderStatusChanged(id: $id) { status } }',
      { id },
      1,
    );
    const stranger = collect(
      client({ 'x-user-id': 'user-5' }),
      'subscription($id: ID!) { orderStatusChanged(id: $id) { status } }',
      { id },
      1,
    );
    await waitFor(() => server.store.events.subscriberCount >= 2);
    await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-user-id': 'user-4', 'x-user-scopes': 'orders:write' },
      body: JSON.stringify({ query: `mutation { cancelOrder(id: "${id}") { id } }` }),
    });
    expect(await cancelled).toEqual([{ data: { orderStatusChanged: { status: 'CANCELLED' } } }]);
    // The stranger saw nothing: its subscription is still waiting when the test ends.
    const none = await Promise.race([stranger, new Promise((resolve) => setTimeout(() => resolve('nothing'), 100))]);
    expect(none).toBe('nothing');
  });
});
