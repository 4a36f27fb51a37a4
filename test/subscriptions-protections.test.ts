import { mkdtempSync } from 'node:fs';
import { request, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { FileApiKeyStore } from '../gateway/src/auth/api-key-store.js';
import { createApiKey, revokeApiKey } from '../gateway/src/auth/api-keys.js';
import { DEV_ISSUER, signDevToken } from '../gateway/src/auth/dev-secret.js';
import { startOrdersSubgraph, type OrdersSubgraphServer } from '../subgraphs/orders/index.js';
import { catalogueProducts } from '../subgraphs/shared/catalogue.js';
import { devBearer as devBearerHeaders } from './helpers/auth.js';
import { postGraphql } from './helpers/gateway.js';
import { useDemoStack } from './helpers/subgraphs.js';
import { useWsClients } from './helpers/ws-clients.js';

/** What protects a running subscription: credentials, budget, limits, authorization, buffers, upstream loss. */

const UPC = catalogueProducts()[0]!.upc;
const CREATE = `mutation { createOrder(input: { items: [{ upc: "${UPC}", quantity: 2 }] }) { id } }`;
const keyFile = join(mkdtempSync(join(tmpdir(), 'gw-subs-keys-')), 'keys.json');
const keys = new FileApiKeyStore(keyFile);

interface Result {
  data?: Record<string, unknown> | null;
  errors?: { message: string; extensions?: { code?: string } }[];
}

const bucket = (capacity: number) => ({ name: 'burst', kind: 'token_bucket' as const, capacity, refillPerSecond: 0.0001 });

const waitFor = async (check: () => boolean) => {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
};

describe('subscription protections', () => {
  const stack = useDemoStack({
    auth: { jwt: { issuers: [DEV_ISSUER] }, apiKeys: { file: keyFile } },
    subscriptions: {
      credentialsRecheckMs: 100,
      bufferSize: 20,
      tiers: { limited: { maxSubscriptions: 1, maxConnections: 2 } },
      // Reconnects for at least about 1.4 s (jitter halves each wait): long enough for a restart on the same port.
      upstreamRetryAttempts: 8,
      upstreamRetryBaseMs: 50,
      upstreamRetryMaxMs: 500,
    },
    rateLimit: {
      store: 'memory',
      tiers: {
        free: { maxCost: 5_000, maxDepth: 10, maxAliases: 10, maxRootFields: 10, limits: [bucket(100_000_000)] },
        // A few points, refilled too slowly to matter: the subscription and a few events.
        tiny: { maxCost: 6, maxDepth: 10, maxAliases: 10, maxRootFields: 10, limits: [bucket(6)] },
      },
    },
  });
  const orders = () => stack.subgraphs.orders as OrdersSubgraphServer;
  const wsClient = useWsClients(() => stack.gw.graphqlUrl);
  type WsClient = ReturnType<typeof wsClient>;
  /** Subscribes with `query` and waits until the orders subgraph holds the subscription; results collect in `received`. */
  const subscribed = async (client: WsClient, query: string) => {
    const received: Result[] = [];
    const before = orders().store.events.subscriberCount;
    client.subscribe(
      { query },
      { next: (value) => void received.push(value as Result), error: () => undefined, complete: () => undefined },
    );
    await waitFor(() => orders().store.events.subscriberCount > before);
    return { received, before };
  };
  /** The close event the gateway ends `client`'s connection with. */
  const closedOf = (client: WsClient) =>
    new Promise<{ code: number; reason: string }>((resolve) =>
      client.on('closed', (event) => resolve(event as { code: number; reason: string })),
    );
  const endedReasons = () => stack.gw.logs.lines.filter((line) => line.msg === 'subscription ended').map((line) => line.reason);

  /** Opens an SSE subscription and returns a reader of everything it sends until `complete`. */
  const sse = async (query: string, headers: Record<string, string>) => {
    const response = await fetch(stack.gw.graphqlUrl, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ query }),
    });
    return { status: response.status, text: () => response.text() };
  };

  it('graphql-transport-ws: the token expiring ends the subscription (an UNAUTHENTICATED error, then close 4403)', async () => {
    const token = await signDevToken({ sub: 'user-7', ttlSeconds: 2 });
    const client = wsClient({ authorization: `Bearer ${token}` });
    const closed = closedOf(client);
    const { received, before } = await subscribed(client, 'subscription { orderCreated { id } }');
    expect(await closed).toMatchObject({ code: 4403, reason: 'Credentials expired' });
    expect(received.at(-1)?.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    await waitFor(() => orders().store.events.subscriberCount === before);
    expect(orders().store.events.subscriberCount).toBe(before);
    expect(endedReasons()).toContain('token_expired');
  });

  it('SSE: an API key revoked while subscribed ends the subscription with an UNAUTHENTICATED error, then complete', async () => {
    const { key, record } = await createApiKey(keys, { owner: 'svc-orders', tier: 'free', scopes: ['orders:read:all'] });
    const before = orders().store.events.subscriberCount;
    const stream = await sse('subscription { orderCreated { id } }', { 'x-api-key': key });
    expect(stream.status).toBe(200);
    const text = stream.text();
    await waitFor(() => orders().store.events.subscriberCount > before);
    await revokeApiKey(keys, record.id);
    const body = await text;
    expect(body).toContain('"code":"UNAUTHENTICATED"');
    expect(body.endsWith('event: complete\ndata:\n\n')).toBe(true);
    expect(endedReasons()).toContain('credentials_revoked');
    // The revoked key is refused for anything new.
    expect((await postGraphql(stack.gw.graphqlUrl, { query: CREATE }, { 'x-api-key': key })).status).toBe(401);
  });

  it("each event's actual cost is charged to the client's budget; out of budget it gets RATE_LIMITED and the subscription ends (close 4429)", async () => {
    const token = await signDevToken({ sub: 'user-8', tier: 'tiny', scopes: ['orders:read:all'] });
    const client = wsClient({ authorization: `Bearer ${token}` });
    const closed = closedOf(client);
    const { received } = await subscribed(client, 'subscription { orderCreated { id } }');
    // Another client places the orders (its own budget); each event costs the subscriber.
    const writer = await devBearerHeaders('user-1', ['orders:write']);
    for (let i = 0; i < 8 && !received.some((result) => result.errors); i++) {
      const seen = received.length;
      await postGraphql(stack.gw.graphqlUrl, { query: CREATE }, writer);
      await waitFor(() => received.length > seen);
    }
    const last = received.at(-1);
    expect(last?.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
    const delivered = received.slice(0, -1);
    expect(delivered.length).toBeGreaterThan(0);
    expect(delivered.length).toBeLessThan(6);
    for (const result of delivered) expect(result).toEqual({ data: { orderCreated: { id: expect.any(String) } } });
    expect(await closed).toMatchObject({ code: 4429, reason: 'Rate limited' });
    expect(endedReasons()).toContain('rate_limited');
  });

  it('per-tier limits: a client of a tier allowed 1 subscription gets 429 SUBSCRIPTION_LIMIT_EXCEEDED for a second, until the first ends', async () => {
    const headers = { authorization: `Bearer ${await signDevToken({ sub: 'user-9', tier: 'limited' })}` };
    const query = 'subscription { orderCreated { id } }';
    const before = orders().store.events.subscriberCount;
    const first = new AbortController();
    const running = await fetch(stack.gw.graphqlUrl, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ query }),
      signal: first.signal,
    });
    expect(running.status).toBe(200);
    await waitFor(() => orders().store.events.subscriberCount > before);
    const refused = await sse(query, headers);
    expect(refused.status).toBe(429);
    expect(JSON.parse(await refused.text()).errors[0].extensions.code).toBe('SUBSCRIPTION_LIMIT_EXCEEDED');
    // Another client of the same tier has its own count.
    const other = await wsSubscribeOnce(`Bearer ${await signDevToken({ sub: 'user-10', tier: 'limited' })}`, query);
    expect(other).toBe('subscribed');
    first.abort();
    await waitFor(() => orders().store.events.subscriberCount === before + 1);
    const again = new AbortController();
    const accepted = await fetch(stack.gw.graphqlUrl, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ query }),
      signal: again.signal,
    });
    expect(accepted.status).toBe(200);
    again.abort();
  });

  it('per-tier limits: a third WebSocket connection of a client allowed 2 is closed with 4429, and one closing frees its place', async () => {
    const authorization = `Bearer ${await signDevToken({ sub: 'user-11', tier: 'limited' })}`;
    const open = async () => {
      const socket = new WebSocket(stack.gw.graphqlUrl.replace(/^http/, 'ws'), 'graphql-transport-ws');
      await new Promise((resolve) => socket.once('open', resolve));
      const answer = new Promise<string>((resolve) => {
        socket.once('message', (data: Buffer) => resolve((JSON.parse(data.toString()) as { type: string }).type));
        socket.once('close', (code: number, reason: Buffer) => resolve(`closed ${code} ${reason.toString()}`));
      });
      socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization } }));
      return { socket, answer: await answer };
    };
    const first = await open();
    const second = await open();
    expect([first.answer, second.answer]).toEqual(['connection_ack', 'connection_ack']);
    const third = await open();
    expect(third.answer).toBe('closed 4429 Too many connections');
    const closed = new Promise((resolve) => first.socket.once('close', resolve));
    first.socket.close(1000);
    await closed;
    let fourth = await open();
    // The server learns of the close a moment after the client.
    for (let i = 0; i < 50 && fourth.answer !== 'connection_ack'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      fourth = await open();
    }
    expect(fourth.answer).toBe('connection_ack');
    second.socket.close(1000);
    fourth.socket.close(1000);
  });

  it('@requiresScopes per event: a field the caller may not see is null in every event, with UNAUTHORIZED_FIELD_OR_TYPE as in a query', async () => {
    const headers = await devBearerHeaders('user-12', ['orders:write']);
    const client = wsClient({ authorization: headers.authorization });
    const { received } = await subscribed(client, 'subscription { orderCreated { id user { name email } } }');
    const created = await postGraphql(stack.gw.graphqlUrl, { query: CREATE }, headers);
    const id = (created.body.data?.createOrder as { id: string }).id;
    await waitFor(() => received.length > 0);
    const query = await postGraphql(stack.gw.graphqlUrl, { query: `{ order(id: "${id}") { id user { name email } } }` }, headers);
    // The query's answer, for comparison.
    expect(query.body.data).toEqual({ order: { id, user: { name: expect.any(String), email: null } } });
    expect(query.body.errors).toEqual([
      { message: expect.any(String), path: ['order', 'user', 'email'], extensions: { code: 'UNAUTHORIZED_FIELD_OR_TYPE' } },
    ]);
    expect(received).toEqual([
      {
        data: { orderCreated: { id, user: { name: expect.any(String), email: null } } },
        errors: [
          {
            message: 'Unauthorized field or type: the caller may not see orderCreated.user.email.',
            path: ['orderCreated', 'user', 'email'],
            extensions: { code: 'UNAUTHORIZED_FIELD_OR_TYPE' },
          },
        ],
      },
    ]);
  });

  /** Publishes large orders of `userId` one by one (a tick apart) until the gateway drops the subscriber, or `max` were sent. */
  async function publishUntilDropped(userId: string, max: number): Promise<number> {
    const items = Array.from({ length: 300 }, () => ({ upc: UPC, quantity: 1, unitPriceCents: 100 }));
    let sent = 0;
    const dropped = endedReasons().filter((reason) => reason === 'slow_consumer').length;
    while (sent < max && endedReasons().filter((reason) => reason === 'slow_consumer').length === dropped) {
      const order = {
        id: `bulk-${userId}-${sent}`,
        userId,
        items,
        totalCents: 30_000,
        status: 'PENDING' as const,
        createdAt: new Date().toISOString(),
      };
      orders().store.events.publish('created', order);
      sent++;
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    return sent;
  }
  const BIG_ORDER = 'subscription { orderCreated { id items { quantity unitPrice } } }';

  it('SSE: a client that stops reading is dropped once subscriptions.bufferSize events wait (slow_consumer), not buffered without limit; it then reads the error and complete', async () => {
    const headers = await devBearerHeaders('user-13');
    const before = orders().store.events.subscriberCount;
    const response = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = request(stack.gw.graphqlUrl, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json', accept: 'text/event-stream' },
      });
      req.on('response', resolve).on('error', reject);
      req.end(JSON.stringify({ query: BIG_ORDER }));
    });
    expect(response.statusCode).toBe(200);
    // Nothing is read from here on: the response's buffer fills, then the socket's.
    response.pause();
    await waitFor(() => orders().store.events.subscriberCount > before);
    const sent = await publishUntilDropped('user-13', 1_500);
    expect(endedReasons()).toContain('slow_consumer');
    expect(sent).toBeLessThan(1_500);
    await waitFor(() => orders().store.events.subscriberCount === before);
    expect(orders().store.events.subscriberCount).toBe(before);
    // Reading again, the client gets what was sent before the drop, then why it ended, then complete.
    let body = '';
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => (body += chunk));
    response.resume();
    await new Promise((resolve) => response.on('end', resolve));
    const events = body.split('\n\n').filter((event) => event.startsWith('event: next'));
    expect(events.length).toBeLessThan(sent);
    expect(events.at(-1)).toContain('"code":"SUBSCRIPTION_SLOW_CONSUMER"');
    expect(body.endsWith('event: complete\ndata:\n\n')).toBe(true);
  });

  it('graphql-transport-ws: a client that stops reading is dropped with close 4413 (slow consumer)', async () => {
    const authorization = (await devBearerHeaders('user-14')).authorization;
    const socket = new WebSocket(stack.gw.graphqlUrl.replace(/^http/, 'ws'), 'graphql-transport-ws');
    await new Promise((resolve) => socket.once('open', resolve));
    const acked = new Promise((resolve) => socket.once('message', resolve));
    socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization } }));
    await acked;
    const before = orders().store.events.subscriberCount;
    socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: BIG_ORDER } }));
    await waitFor(() => orders().store.events.subscriberCount > before);
    const closed = new Promise<string>((resolve) =>
      socket.once('close', (code: number, reason: Buffer) => resolve(`${code} ${reason.toString()}`)),
    );
    (socket as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();
    const dropped = endedReasons().filter((reason) => reason === 'slow_consumer').length;
    await publishUntilDropped('user-14', 1_500);
    expect(endedReasons().filter((reason) => reason === 'slow_consumer').length).toBe(dropped + 1);
    (socket as unknown as { _socket: { resume(): void } })._socket.resume();
    expect(await closed).toBe('4413 Slow consumer: too many events waiting');
  });

  it('metrics: active subscriptions and connections by protocol, events delivered, ended by reason; a log line with the events', async () => {
    const value = async (name: string, labels: Record<string, string>) => {
      const metric = (await stack.gw.gateway.metrics.registry.getMetricsAsJSON()).find((entry) => entry.name === name);
      const found = metric?.values.find((entry) => Object.entries(labels).every(([key, expected]) => entry.labels[key] === expected));
      return found?.value ?? 0;
    };
    const delivered = { websocket: await value('gateway_subscription_events_total', { protocol: 'websocket', result: 'delivered' }) };
    const sseDelivered = await value('gateway_subscription_events_total', { protocol: 'sse', result: 'delivered' });
    const endedBefore = await value('gateway_subscriptions_ended_total', { protocol: 'websocket', reason: 'client' });
    const wsBefore = await value('gateway_subscriptions_active', { protocol: 'websocket' });
    const headers = await devBearerHeaders('user-17', ['orders:write']);
    const client = wsClient({ authorization: headers.authorization });
    const received: Result[] = [];
    const before = orders().store.events.subscriberCount;
    const stop = client.subscribe(
      { query: 'subscription { orderCreated { id } }' },
      { next: (result) => void received.push(result as Result), error: () => undefined, complete: () => undefined },
    );
    const stream = new AbortController();
    const sseResponse = await fetch(stack.gw.graphqlUrl, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ query: 'subscription { orderCreated { id } }' }),
      signal: stream.signal,
    });
    await waitFor(() => orders().store.events.subscriberCount === before + 2);
    expect(await value('gateway_subscriptions_active', { protocol: 'websocket' })).toBe(wsBefore + 1);
    expect(await value('gateway_subscriptions_active', { protocol: 'sse' })).toBeGreaterThanOrEqual(1);
    expect(await value('gateway_subscription_connections_active', { protocol: 'websocket' })).toBeGreaterThanOrEqual(1);
    expect(await value('gateway_subscription_connections_active', { protocol: 'sse' })).toBeGreaterThanOrEqual(1);
    await postGraphql(stack.gw.graphqlUrl, { query: CREATE }, headers);
    await waitFor(() => received.length > 0);
    const reader = sseResponse.body!.getReader();
    let text = '';
    while (!text.includes('event: next')) text += new TextDecoder().decode((await reader.read()).value);
    expect(await value('gateway_subscription_events_total', { protocol: 'websocket', result: 'delivered' })).toBe(delivered.websocket + 1);
    expect(await value('gateway_subscription_events_total', { protocol: 'sse', result: 'delivered' })).toBe(sseDelivered + 1);
    stop();
    stream.abort();
    await waitFor(() => orders().store.events.subscriberCount === before);
    await waitFor(() =>
      stack.gw.logs.lines.some((line) => line.msg === 'subscription ended' && line.principal === 'user:gateway-demo:user-17'),
    );
    expect(await value('gateway_subscriptions_ended_total', { protocol: 'websocket', reason: 'client' })).toBe(endedBefore + 1);
    const ended = stack.gw.logs.lines.filter((line) => line.msg === 'subscription ended' && line.principal === 'user:gateway-demo:user-17');
    expect(ended.map((line) => ({ protocol: line.protocol, reason: line.reason, events: line.events }))).toEqual(
      expect.arrayContaining([{ protocol: 'websocket', reason: 'client', events: 1 }]),
    );
    expect(ended.every((line) => typeof line.durationMs === 'number')).toBe(true);
  });

  it('the tier depth limit applies to a subscription document: refused with MAX_DEPTH_EXCEEDED, nothing subscribed upstream', async () => {
    const headers = await devBearerHeaders('user-19');
    const before = orders().store.events.subscriberCount;
    // Depth 11; the free tier here allows 10.
    const deep =
      'subscription { orderCreated { user { orders { edges { node { user { orders { edges { node { user { name } } } } } } } } } } }';
    const refused = await sse(deep, headers);
    expect(refused.status).toBe(400);
    expect(JSON.parse(await refused.text()).errors[0].extensions).toMatchObject({ code: 'MAX_DEPTH_EXCEEDED', value: 11, max: 10 });
    expect(orders().store.events.subscriberCount).toBe(before);
  });

  // These two restart, then stop, the orders subgraph: they come last.
  it('a subgraph restart on the same port: the gateway reconnects with back-off, re-subscribes, and events resume', async () => {
    const headers = await devBearerHeaders('user-15', ['orders:write']);
    const client = wsClient({ authorization: headers.authorization });
    const before = orders().store.events.subscriberCount;
    const received: Result[] = [];
    let completed = false;
    client.subscribe(
      { query: 'subscription { orderCreated { id user { name } } }' },
      { next: (value) => void received.push(value as Result), error: () => (completed = true), complete: () => (completed = true) },
    );
    // Every running subscription (this one and earlier tests' still open) subscribes again.
    const active = before + 1;
    await waitFor(() => orders().store.events.subscriberCount === active);
    const port = Number(new URL(stack.subgraphs.urls.orders).port);
    await stack.subgraphs.orders.close();
    const restarted = await startOrdersSubgraph({ host: '127.0.0.1', port, tickerMs: 0 });
    stack.subgraphs.orders = restarted;
    await waitFor(() => restarted.store.events.subscriberCount === active);
    expect(restarted.store.events.subscriberCount).toBe(active);
    const created = await postGraphql(stack.gw.graphqlUrl, { query: CREATE }, headers);
    const id = (created.body.data?.createOrder as { id: string }).id;
    await waitFor(() => received.length > 0);
    expect(received).toEqual([{ data: { orderCreated: { id, user: { name: expect.any(String) } } } }]);
    expect(completed).toBe(false);
  });

  it('a subgraph that does not come back: after the retries the client gets SUBSCRIPTION_UPSTREAM_FAILED, then complete', async () => {
    const client = wsClient({ authorization: (await devBearerHeaders('user-16')).authorization });
    const received: Result[] = [];
    const done = new Promise<string>((resolve) =>
      client.subscribe(
        { query: 'subscription { orderCreated { id } }' },
        { next: (value) => void received.push(value as Result), error: () => resolve('error'), complete: () => resolve('complete') },
      ),
    );
    const before = orders().store.events.subscriberCount;
    await waitFor(() => orders().store.events.subscriberCount > before);
    await stack.subgraphs.orders.close();
    expect(await done).toBe('complete');
    expect(received).toEqual([
      { errors: [{ message: expect.stringContaining('could not be reached'), extensions: { code: 'SUBSCRIPTION_UPSTREAM_FAILED' } }] },
    ]);
    expect(endedReasons()).toContain('upstream_failed');
  });

  /** Subscribes on a new WebSocket; resolves with 'subscribed' once the subgraph has the subscriber, or the error code. */
  async function wsSubscribeOnce(authorization: string, query: string): Promise<string> {
    const client = wsClient({ authorization });
    const before = orders().store.events.subscriberCount;
    return new Promise((resolve) => {
      client.subscribe(
        { query },
        {
          next: () => undefined,
          error: (error) => resolve(Array.isArray(error) ? String((error as Result['errors'])?.[0]?.extensions?.code) : 'error'),
          complete: () => undefined,
        },
      );
      void waitFor(() => orders().store.events.subscriberCount > before).then(() => resolve('subscribed'));
    });
  }
});
