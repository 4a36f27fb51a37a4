import type { Client as WsClient } from 'graphql-ws';
import { createClient as createSseClient } from 'graphql-sse';
import { describe, expect, it } from 'vitest';
import { catalogueProducts } from '../subgraphs/shared/catalogue.js';
import type { OrdersSubgraphServer } from '../subgraphs/orders/index.js';
import { devBearer } from './helpers/auth.js';
import { postGraphql } from './helpers/gateway.js';
import { useDemoStack } from './helpers/subgraphs.js';
import { useWsClients } from './helpers/ws-clients.js';

/** Subscriptions through the gateway, with real clients of each protocol, against the demo subgraphs. */

const ORDER_FIELDS = 'id status user { name } items { quantity product { name price } }';
const UPC = catalogueProducts()[0]!.upc;
const CREATE = `mutation { createOrder(input: { items: [{ upc: "${UPC}", quantity: 2 }] }) { id } }`;

interface Result {
  data?: Record<string, unknown> | null;
  errors?: { message: string; extensions?: { code?: string } }[];
}

const orders = (stack: ReturnType<typeof useDemoStack>) => stack.subgraphs.orders as OrdersSubgraphServer;
const waitFor = async (check: () => boolean) => {
  for (let i = 0; i < 300 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
};

/** The order as the gateway must deliver it: the orders subgraph's fields, the user's name from users, the product from products. */
function expectedOrder(id: string, status: string) {
  const product = catalogueProducts()[0]!;
  return {
    id,
    status,
    user: { name: expect.any(String) },
    items: [{ quantity: 2, product: { name: product.name, price: product.priceCents / 100 } }],
  };
}

describe('subscriptions through the gateway', () => {
  const stack = useDemoStack();
  const wsClient = useWsClients(() => stack.gw.graphqlUrl);
  const collect = (client: WsClient, query: string, count: number, variables: Record<string, unknown> = {}) =>
    new Promise<Result[]>((resolve, reject) => {
      const seen: Result[] = [];
      const stop = client.subscribe(
        { query, variables },
        {
          next: (value) => {
            seen.push(value as Result);
            if (seen.length === count) {
              // Not from inside `next`: when the server's `complete` arrives in the same read, graphql-ws's
              // client releases the operation twice and closes a socket other operations still use.
              setImmediate(stop);
              resolve(seen);
            }
          },
          error: (error) =>
            Array.isArray(error)
              ? resolve([{ errors: error as Result['errors'] }])
              : reject(error instanceof Error ? error : new Error(JSON.stringify(error))),
          complete: () => resolve(seen),
        },
      );
    });

  it('graphql-transport-ws: a signed-in client gets its new orders with data from all three subgraphs, in order; mutations run over a WebSocket too', async () => {
    const { authorization } = await devBearer('user-1', ['orders:write']);
    const client = wsClient({ authorization });
    const before = orders(stack).store.events.subscriberCount;
    const events = collect(client, `subscription { orderCreated { ${ORDER_FIELDS} } }`, 2);
    await waitFor(() => orders(stack).store.events.subscriberCount > before);
    // Mutations over a WebSocket too (a second connection of the same caller).
    const writer = wsClient({ headers: { authorization } });
    const [first] = await collect(writer, CREATE, 1);
    const [second] = await collect(writer, CREATE, 1);
    const ids = [first, second].map((result) => (result?.data?.createOrder as { id: string }).id);
    expect(await events).toEqual([
      { data: { orderCreated: expectedOrder(ids[0]!, 'PENDING') } },
      { data: { orderCreated: expectedOrder(ids[1]!, 'PENDING') } },
    ]);
    // Completed by the client: unsubscribed upstream too.
    await waitFor(() => orders(stack).store.events.subscriberCount === before);
    expect(orders(stack).store.events.subscriberCount).toBe(before);
  });

  it('a query and a mutation on the same WebSocket as a running subscription are answered, and the subscription still gets the event', async () => {
    const { authorization } = await devBearer('user-5', ['orders:write']);
    const client = wsClient({ authorization });
    const before = orders(stack).store.events.subscriberCount;
    const events = collect(client, `subscription { orderCreated { ${ORDER_FIELDS} } }`, 1);
    await waitFor(() => orders(stack).store.events.subscriberCount > before);
    const [me] = await collect(client, '{ me { id } }', 1);
    expect(me).toEqual({ data: { me: { id: 'user-5' } } });
    const [created] = await collect(client, CREATE, 1);
    const id = (created?.data?.createOrder as { id: string }).id;
    expect(await events).toEqual([{ data: { orderCreated: expectedOrder(id, 'PENDING') } }]);
    await waitFor(() => orders(stack).store.events.subscriberCount === before);
    expect(orders(stack).store.events.subscriberCount).toBe(before);
  });

  it("one caller's subscriptions share one connection to the subgraph, another caller gets its own, and each closes with its last subscription", async () => {
    const subgraph = orders(stack);
    const headers = await devBearer('user-7', ['orders:write']);
    const query = `subscription { orderCreated { ${ORDER_FIELDS} } }`;
    const before = { subscribers: subgraph.store.events.subscriberCount, connections: subgraph.webSocketConnections() };
    // Two client connections of user-7 and one of user-8: three subscriptions upstream, on two connections.
    const seen: Result[][] = [[], [], []];
    const subscribe = (client: WsClient, into: Result[]) =>
      client.subscribe({ query }, { next: (value) => void into.push(value as Result), error: () => undefined, complete: () => undefined });
    const stopFirst = subscribe(wsClient(headers), seen[0]!);
    const stopSecond = subscribe(wsClient(headers), seen[1]!);
    const stopOther = subscribe(wsClient(await devBearer('user-8', ['orders:write'])), seen[2]!);
    await waitFor(() => subgraph.store.events.subscriberCount === before.subscribers + 3);
    expect(subgraph.store.events.subscriberCount).toBe(before.subscribers + 3);
    expect(subgraph.webSocketConnections()).toBe(before.connections + 2);

    const place = async () => (await postGraphql(stack.gw.graphqlUrl, { query: CREATE }, headers)).body.data?.createOrder as { id: string };
    const first = await place();
    await waitFor(() => seen[0]!.length === 1 && seen[1]!.length === 1);
    expect(seen[0]).toEqual([{ data: { orderCreated: expectedOrder(first.id, 'PENDING') } }]);
    expect(seen[1]).toEqual(seen[0]);
    // user-8 sees only its own orders.
    expect(seen[2]).toEqual([]);

    // One of user-7's subscriptions ends: the other keeps the shared connection and its events.
    setImmediate(stopFirst);
    await waitFor(() => subgraph.store.events.subscriberCount === before.subscribers + 2);
    const second = await place();
    await waitFor(() => seen[1]!.length === 2);
    expect(seen[1]?.[1]).toEqual({ data: { orderCreated: expectedOrder(second.id, 'PENDING') } });
    expect(seen[0]).toHaveLength(1);
    expect(subgraph.webSocketConnections()).toBe(before.connections + 2);

    setImmediate(stopSecond);
    await waitFor(() => subgraph.webSocketConnections() === before.connections + 1);
    expect(subgraph.webSocketConnections()).toBe(before.connections + 1);
    setImmediate(stopOther);
    await waitFor(() => subgraph.webSocketConnections() === before.connections);
    expect(subgraph.webSocketConnections()).toBe(before.connections);
    expect(subgraph.store.events.subscriberCount).toBe(before.subscribers);
  });

  it('refuses an anonymous orderCreated with the protocol error UNAUTHENTICATED (nothing is subscribed upstream)', async () => {
    const before = orders(stack).store.events.subscriberCount;
    const [result] = await collect(wsClient({}), 'subscription { orderCreated { id } }', 1);
    expect(result?.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(orders(stack).store.events.subscriberCount).toBe(before);
  });

  it('closes the connection with 4403 when the credentials in connectionParams are invalid', async () => {
    const client = wsClient({ authorization: 'Bearer not-a-token' });
    const closed = new Promise<number>((resolve) => client.on('closed', (event) => resolve((event as { code: number }).code)));
    void collect(client, '{ __typename }', 1).catch(() => undefined);
    expect(await closed).toBe(4403);
  });

  it('graphql-sse (distinct connections): orderStatusChanged delivers the cancellation with user and products', async () => {
    const headers = await devBearer('user-2', ['orders:write']);
    const created = await postGraphql(stack.gw.graphqlUrl, { query: CREATE }, headers);
    const id = (created.body.data?.createOrder as { id: string }).id;
    const client = createSseClient({ url: stack.gw.graphqlUrl, headers });
    const received: Result[] = [];
    const before = orders(stack).store.events.subscriberCount;
    const done = new Promise<void>((resolve, reject) => {
      const stop = client.subscribe(
        { query: `subscription($id: ID!) { orderStatusChanged(id: $id) { ${ORDER_FIELDS} } }`, variables: { id } },
        {
          next: (value) => {
            received.push(value as Result);
            stop();
            resolve();
          },
          error: reject,
          complete: () => resolve(),
        },
      );
    });
    await waitFor(() => orders(stack).store.events.subscriberCount > before);
    await postGraphql(stack.gw.graphqlUrl, { query: `mutation { cancelOrder(id: "${id}") { id } }` }, headers);
    await done;
    client.dispose();
    expect(received).toEqual([{ data: { orderStatusChanged: expectedOrder(id, 'CANCELLED') } }]);
  });

  it('graphql-sse over GET: variables and extensions come JSON-encoded in the query string', async () => {
    const headers = await devBearer('user-2', ['orders:write']);
    const created = await postGraphql(stack.gw.graphqlUrl, { query: CREATE }, headers);
    const id = (created.body.data?.createOrder as { id: string }).id;
    const url = new URL(stack.gw.graphqlUrl);
    url.searchParams.set('query', 'subscription($id: ID!) { orderStatusChanged(id: $id) { id status } }');
    url.searchParams.set('variables', JSON.stringify({ id }));
    url.searchParams.set('extensions', JSON.stringify({}));
    const before = orders(stack).store.events.subscriberCount;
    const abort = new AbortController();
    // A GET carries a preflight header (CSRF prevention), as graphql-sse clients configured for GET do.
    const get = { ...headers, accept: 'text/event-stream', 'apollo-require-preflight': 'true' };
    const response = await fetch(url, { headers: get, signal: abort.signal });
    expect(response.status, response.status === 200 ? '' : await response.text()).toBe(200);
    await waitFor(() => orders(stack).store.events.subscriberCount > before);
    await postGraphql(stack.gw.graphqlUrl, { query: `mutation { cancelOrder(id: "${id}") { id } }` }, headers);
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    let text = '';
    while (!text.includes('event: next')) text += new TextDecoder().decode((await reader.read()).value);
    while (!text.slice(text.indexOf('event: next')).includes('\n\n')) text += new TextDecoder().decode((await reader.read()).value);
    abort.abort();
    const event = text.slice(text.indexOf('event: next')).split('\n\n')[0] as string;
    expect(JSON.parse(event.slice(event.indexOf('data: ') + 6))).toEqual({ data: { orderStatusChanged: { id, status: 'CANCELLED' } } });

    url.searchParams.set('variables', '{"id":');
    const malformed = await fetch(url, { headers: get });
    expect(malformed.status).toBe(400);
    expect(JSON.stringify(await malformed.json())).toContain('BAD_REQUEST');
  });

  it('multipart (subscriptionSpec 1.0): a raw reader sees {payload} parts with the federated order', async () => {
    const headers = await devBearer('user-3', ['orders:write']);
    const before = orders(stack).store.events.subscriberCount;
    const controller = new AbortController();
    const response = await fetch(stack.gw.graphqlUrl, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json', accept: 'multipart/mixed;subscriptionSpec="1.0",application/json' },
      body: JSON.stringify({ query: `subscription { orderCreated { ${ORDER_FIELDS} } }` }),
      signal: controller.signal,
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('multipart/mixed;boundary="graphql";subscriptionSpec="1.0"');
    await waitFor(() => orders(stack).store.events.subscriberCount > before);
    const created = await postGraphql(stack.gw.graphqlUrl, { query: CREATE }, headers);
    const id = (created.body.data?.createOrder as { id: string }).id;
    const reader = response.body!.getReader();
    let text = '';
    while (!text.includes('"payload"')) text += new TextDecoder().decode((await reader.read()).value);
    controller.abort();
    const part = text.split('\r\n--graphql\r\n')[1]!;
    const [partHeaders, body] = part.split('\r\n\r\n') as [string, string];
    expect(partHeaders).toBe('content-type: application/json; charset=utf-8');
    expect(JSON.parse(body)).toEqual({ payload: { data: { orderCreated: expectedOrder(id, 'PENDING') } } });
  });

  it('a subscription sent as a plain POST gets 400 SUBSCRIPTION_TRANSPORT_REQUIRED', async () => {
    const result = await postGraphql(stack.gw.graphqlUrl, { query: 'subscription { orderCreated { id } }' }, await devBearer('user-1'));
    expect(result.status).toBe(400);
    expect(result.body.errors?.[0]?.extensions?.code).toBe('SUBSCRIPTION_TRANSPORT_REQUIRED');
  });

  // Last: it shuts the gateway down.
  it('graceful shutdown ends every subscription: WebSocket closes with 1001 (going away), SSE gets the error then complete', async () => {
    const headers = await devBearer('user-4');
    const client = wsClient({ authorization: headers.authorization });
    const closed = new Promise<{ code: number; reason: string }>((resolve) =>
      client.on('closed', (event) => resolve(event as { code: number; reason: string })),
    );
    const before = orders(stack).store.events.subscriberCount;
    const last = collect(client, 'subscription { orderCreated { id } }', 1).catch(() => undefined);
    const sse = await fetch(stack.gw.graphqlUrl, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ query: 'subscription { orderCreated { id } }' }),
    });
    await waitFor(() => orders(stack).store.events.subscriberCount >= before + 2);
    await stack.gw.close();
    expect(await closed).toMatchObject({ code: 1001, reason: 'Going away' });
    // The error saying why came first.
    expect((await last)?.[0]?.errors?.[0]?.extensions?.code).toBe('SHUTTING_DOWN');
    const text = await sse.text();
    expect(text).toContain('"code":"SHUTTING_DOWN"');
    expect(text.endsWith('event: complete\ndata:\n\n')).toBe(true);
    expect(stack.gw.logs.lines.filter((line) => line.msg === 'subscription ended').map((line) => line.reason)).toContain('shutdown');
  });
});

describe('subscriptions and header rules', () => {
  // The orders subgraph gets the client's headers by a header rule (x-tenant among them): on its HTTP
  // calls, and on its subscriptions' connection, without the WebSocket handshake's own (sec-websocket-key).
  const stack = useDemoStack({ headers: { subgraphs: { orders: { request: [{ propagate: { matching: '.*' } }] } } } });
  const wsClient = useWsClients(() => stack.gw.graphqlUrl);

  it("carries the rules' headers on the subgraph's connection: one caller under two tenants uses two connections", async () => {
    const subgraph = orders(stack);
    const { authorization } = await devBearer('user-9', ['orders:write']);
    const query = 'subscription { orderCreated { id } }';
    const before = { subscribers: subgraph.store.events.subscriberCount, connections: subgraph.webSocketConnections() };
    const subscribe = (tenant: string) =>
      wsClient({ authorization, 'x-tenant': tenant }).subscribe(
        { query },
        { next: () => undefined, error: () => undefined, complete: () => undefined },
      );
    const stops = [subscribe('acme'), subscribe('acme'), subscribe('globex')];
    await waitFor(() => subgraph.store.events.subscriberCount === before.subscribers + 3);
    expect(subgraph.store.events.subscriberCount).toBe(before.subscribers + 3);
    expect(subgraph.webSocketConnections()).toBe(before.connections + 2);
    for (const stop of stops) setImmediate(stop);
    await waitFor(() => subgraph.webSocketConnections() === before.connections);
    expect(subgraph.webSocketConnections()).toBe(before.connections);
  });
});
