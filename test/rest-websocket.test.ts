import { connect as tcpConnect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { DEV_ISSUER } from '../gateway/src/auth/dev-secret.js';
import { bearer } from './helpers/cost-stack.js';
import { startTestGateway, type TestGateway } from './helpers/gateway.js';
import { startWsUpstream, type WsUpstream } from './helpers/ws-upstream.js';
import { DEMO_SUPERGRAPH } from './helpers/subgraphs.js';

let a: WsUpstream;
let b: WsUpstream;
let gw: TestGateway;
let closed = false;
const open = { auth: { mode: 'optional' as const }, cost: 0 };

let downOrigin: string;

beforeAll(async () => {
  [a, b] = await Promise.all([startWsUpstream('a'), startWsUpstream('b')]);
  const gone = await startWsUpstream('gone');
  downOrigin = gone.origin;
  await gone.close();
  gw = await startTestGateway({
    supergraph: { path: DEMO_SUPERGRAPH, watch: false },
    auth: { jwt: { issuers: [DEV_ISSUER] } },
    rateLimit: {
      defaultTier: 'ws',
      tiers: {
        ws: {
          maxCost: 10,
          maxDepth: 10,
          maxAliases: 5,
          maxRootFields: 5,
          limits: [{ name: 'burst', kind: 'token_bucket', capacity: 10, refillPerSecond: 0.001 }],
        },
      },
    },
    rest: {
      routes: [
        { prefix: '/ws/echo', upstream: a.origin, rewrite: '/socket', websocket: true, cost: 4 },
        { ...open, prefix: '/ws/idle', upstream: a.origin, websocket: { idleTimeoutMs: 300 } },
        { ...open, prefix: '/ws/short', upstream: a.origin, websocket: { idleTimeoutMs: 10_000, maxLifetimeMs: 600 } },
        {
          ...open,
          prefix: '/ws/sticky',
          upstreams: [{ url: a.origin }, { url: b.origin }],
          loadBalancing: { strategy: 'consistent_hash', hashHeader: 'x-session' },
          websocket: true,
        },
        { ...open, prefix: '/ws/plain', upstream: a.origin },
        { ...open, prefix: '/ws/down', upstream: downOrigin, websocket: true },
        {
          ...open,
          prefix: '/ws/refusals',
          upstream: a.origin,
          websocket: true,
          timeouts: { connectMs: 100, firstByteMs: 200 },
          headerRules: { response: [{ insert: { name: 'x-route', value: 'refusals' } }] },
        },
      ],
    },
  });
});

afterAll(async () => {
  if (!closed) await gw?.close();
  await a?.close();
  await b?.close();
});

interface Connected {
  ws: WebSocket;
  greeting: string;
  messages: { data: string | Buffer; binary: boolean }[];
  closed: Promise<{ code: number; reason: string }>;
}

/** Opens a WebSocket through the gateway; rejects with the HTTP status when the handshake is refused. */
function connect(path: string, headers: Record<string, string> = {}, protocols: string[] = []): Promise<Connected> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${gw.url.replace('http', 'ws')}${path}`, protocols, { headers });
    const messages: Connected['messages'] = [];
    const closed = new Promise<{ code: number; reason: string }>((done) =>
      ws.once('close', (code, reason) => done({ code, reason: reason.toString() })),
    );
    ws.on('message', (data, binary) => {
      const message = binary ? (data as Buffer) : data.toString();
      if (messages.length === 0 && !binary && String(message).startsWith('hello from'))
        resolve({ ws, greeting: String(message), messages, closed });
      messages.push({ data: message, binary });
    });
    ws.once('unexpected-response', (_request, response) => {
      response.resume();
      reject(Object.assign(new Error(`handshake refused: ${response.statusCode}`), { status: response.statusCode }));
    });
    ws.once('error', reject);
  });
}

/** A handshake the gateway answers without 101: its status, headers and body. */
function refusal(path: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${gw.url.replace('http', 'ws')}${path}`);
    ws.once('unexpected-response', (_request, response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.once('end', () => {
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body });
        ws.terminate();
      });
    });
    ws.once('open', () => reject(new Error(`${path} was upgraded`)));
    // Settled before terminate(): an error is the gateway closing without an answer.
    ws.once('error', reject);
  });
}

function next(connected: Connected, count: number): Promise<Connected['messages']> {
  return new Promise((resolve) => {
    const check = () => (connected.messages.length >= count ? resolve(connected.messages.slice(0, count)) : setTimeout(check, 10));
    check();
  });
}

async function metric(name: string, labels: string): Promise<number> {
  const text = await (await fetch(`${gw.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(labels ? `${name}{${labels}}` : `${name} `));
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('WebSocket on REST routes', () => {
  it('relays text and binary both ways, with the rewritten path, the identity headers and the subprotocol the upstream chose', async () => {
    const user = await bearer('ws-user-1', 'ws');
    const connected = await connect('/ws/echo/room?x=1', { ...user, 'x-request-id': 'ws-1' }, ['chat.v2', 'chat.v1']);
    expect(connected.greeting).toBe('hello from a');
    expect(connected.ws.protocol).toBe('chat.v2');
    const handshake = a.handshakes.at(-1);
    expect(handshake?.url).toBe('/socket/room?x=1');
    expect(handshake?.headers['x-user-id']).toBe('ws-user-1');
    expect(handshake?.headers['x-request-id']).toBe('ws-1');
    expect(handshake?.headers.authorization).toBeUndefined();
    connected.ws.send('ping');
    connected.ws.send(Buffer.from([1, 2, 3]));
    const [, text, binary] = await next(connected, 3);
    expect(text).toEqual({ data: 'ping', binary: false });
    expect(binary?.binary).toBe(true);
    expect([...(binary?.data as Buffer)]).toEqual([1, 2, 3]);
    expect(await metric('gateway_rest_websocket_connections', 'route="/ws/echo"')).toBe(1);
    // An open WebSocket is a connection, not a request in flight (it would hold server.maxInFlightRequests).
    expect(await metric('gateway_http_in_flight_requests', '')).toBe(0);
    // The client's close code and reason reach the upstream.
    const upstreamCloses = a.closes.length;
    connected.ws.close(4000, 'done');
    await connected.closed;
    await new Promise<void>((resolve) => {
      const check = () => (a.closes.length > upstreamCloses ? resolve() : setTimeout(check, 10));
      check();
    });
    expect(a.closes.at(-1)).toEqual({ code: 4000, reason: 'done' });
    expect(await metric('gateway_rest_websocket_closed_total', 'route="/ws/echo",reason="client"')).toBe(1);
  });

  it("the upstream's close code and reason reach the client", async () => {
    const connected = await connect('/ws/idle/x');
    connected.ws.send('close-me');
    expect(await connected.closed).toEqual({ code: 4001, reason: 'bye' });
  });

  it('authenticates at the handshake: no credential, 401 and no upstream connection', async () => {
    const before = a.handshakes.length;
    await expect(connect('/ws/echo/room')).rejects.toMatchObject({ status: 401 });
    expect(a.handshakes.length).toBe(before);
  });

  it("charges the route's cost once per connection: a budget of 10 lets two connections of 4 through, not a third", async () => {
    const user = await bearer('ws-user-2', 'ws');
    const before = a.handshakes.length;
    const first = await connect('/ws/echo/a', user);
    const second = await connect('/ws/echo/b', user);
    // Messages are not charged.
    for (let i = 0; i < 5; i++) first.ws.send(`m${i}`);
    await next(first, 6);
    await expect(connect('/ws/echo/c', user)).rejects.toMatchObject({ status: 429 });
    expect(a.handshakes.length - before).toBe(2);
    first.ws.close();
    second.ws.close();
  });

  it('closes an idle connection with 1001, both sides', async () => {
    const connected = await connect('/ws/idle/quiet');
    expect(await connected.closed).toEqual({ code: 1001, reason: 'idle timeout' });
    await new Promise<void>((resolve) => {
      const check = () => (a.closes.some((c) => c.reason === 'idle timeout') ? resolve() : setTimeout(check, 10));
      check();
    });
    expect(a.closes.filter((c) => c.reason === 'idle timeout')).toEqual([{ code: 1001, reason: 'idle timeout' }]);
    expect(await metric('gateway_rest_websocket_closed_total', 'route="/ws/idle",reason="idle"')).toBe(1);
  });

  it('closes a busy connection at its lifetime with 1001', async () => {
    const connected = await connect('/ws/short/busy');
    const ticker = setInterval(() => connected.ws.readyState === WebSocket.OPEN && connected.ws.send('tick'), 50);
    try {
      expect(await connected.closed).toEqual({ code: 1001, reason: 'connection lifetime reached' });
    } finally {
      clearInterval(ticker);
    }
    expect(connected.messages.filter((m) => m.data === 'tick').length).toBeGreaterThan(0);
    expect(await metric('gateway_rest_websocket_closed_total', 'route="/ws/short",reason="lifetime"')).toBe(1);
  });

  it('keeps a session on one replica across reconnections (consistent hash on a header), and sessions on both', async () => {
    const sides = new Set<string>();
    for (let s = 0; s < 8; s++) {
      const greetings = [];
      for (let i = 0; i < 3; i++) {
        const connected = await connect('/ws/sticky/x', { 'x-session': `session-${s}` });
        greetings.push(connected.greeting);
        connected.ws.close();
        await connected.closed;
      }
      expect(new Set(greetings).size).toBe(1);
      sides.add(greetings[0] as string);
    }
    expect(sides).toEqual(new Set(['hello from a', 'hello from b']));
  });

  it("the upstream's refusal of the upgrade (3xx, 4xx) reaches the client: its status, body and the headers a client acts on", async () => {
    const unauthorized = await refusal('/ws/refusals/unauthorized');
    expect(unauthorized.status).toBe(401);
    expect(unauthorized.body).toBe('{"error":"token expired"}');
    expect(unauthorized.headers['content-type']).toBe('application/json');
    expect(unauthorized.headers['www-authenticate']).toBe('Bearer realm="ws"');
    expect(unauthorized.headers['x-upstream-secret']).toBeUndefined();
    // The route's response rules apply, as to any answer of the route.
    expect(unauthorized.headers['x-route']).toBe('refusals');
    const moved = await refusal('/ws/refusals/moved');
    expect([moved.status, moved.headers.location, moved.body]).toEqual([302, '/elsewhere', '']);
    const forbidden = await refusal('/ws/refusals/forbidden');
    expect([forbidden.status, forbidden.body]).toEqual([403, '']);
    // A body goes only with its type: an untyped one, one over 64 KiB and one that stalls are not
    // passed on (nor their type); the status still is.
    const untyped = await refusal('/ws/refusals/untyped');
    expect([untyped.status, untyped.body, untyped.headers['content-type']]).toEqual([401, '', undefined]);
    const long = await refusal('/ws/refusals/long-refusal');
    expect([long.status, long.body, long.headers['content-type']]).toEqual([404, '', undefined]);
    const stalled = await refusal('/ws/refusals/stalled');
    expect([stalled.status, stalled.body, stalled.headers['content-type']]).toEqual([401, '', undefined]);
  });

  it("a refusal is the upstream's answer, not its failure: a dozen, stalled ones included, do not open the route's breaker", async () => {
    // Ten calls at 50% failed would open it; these are all refusals, ten of them with a body that stalls past the deadline.
    const refused = await Promise.all([
      ...Array.from({ length: 10 }, () => refusal('/ws/refusals/stalled')),
      refusal('/ws/refusals/forbidden'),
      refusal('/ws/refusals/forbidden'),
    ]);
    expect(refused.map((r) => r.status)).toEqual([...Array<number>(10).fill(401), 403, 403]);
    const after = await connect('/ws/refusals/x');
    expect(after.greeting).toBe('hello from a');
    after.ws.close();
    await after.closed;
  });

  it('502 when the upstream fails the upgrade (5xx, or a non-101 success) or is down; a route without `websocket` does not relay', async () => {
    const broken = await refusal('/ws/idle/broken');
    expect(broken.status).toBe(502);
    expect(broken.body).not.toContain('oops');
    expect(JSON.parse(broken.body)).toMatchObject({ error: 'UPSTREAM_BAD_RESPONSE' });
    await expect(connect('/ws/idle/not-websocket')).rejects.toMatchObject({ status: 502 });
    await expect(connect('/ws/down/x')).rejects.toMatchObject({ status: 502 });
    await expect(connect('/ws/plain/x')).rejects.toMatchObject({ status: 426 });
  });

  it('a malformed handshake gets 400 from the gateway, and the upstream connection opened for it is closed', async () => {
    const url = new URL(gw.url);
    const before = a.handshakes.length;
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = tcpConnect(Number(url.port), url.hostname, () =>
        socket.write(
          'GET /ws/idle/bad HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
            'Sec-WebSocket-Key: not-a-key\r\nSec-WebSocket-Version: 13\r\n\r\n',
        ),
      );
      let text = '';
      socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
      socket.on('close', () => resolve(text));
      socket.on('error', reject);
    });
    expect(answer.split('\r\n')[0]).toBe('HTTP/1.1 400 Bad Request');
    expect(a.handshakes.length).toBe(before + 1);
    await new Promise<void>((resolve) => {
      const check = () => (a.open.size === 0 ? resolve() : setTimeout(check, 10));
      check();
    });
  });

  it('leaves upgrades to the GraphQL path to the subscriptions listener', async () => {
    const ws = new WebSocket(`${gw.url.replace('http', 'ws')}/graphql`, ['graphql-transport-ws']);
    const first = new Promise<string>((resolve, reject) => {
      ws.once('message', (data) => resolve(data.toString()));
      ws.once('error', reject);
    });
    ws.once('open', () => ws.send(JSON.stringify({ type: 'connection_init' })));
    expect(JSON.parse(await first)).toMatchObject({ type: 'connection_ack' });
    ws.close();
  });

  it('ends open connections with 1001 when the gateway shuts down', async () => {
    const connected = await connect('/ws/idle/last');
    connected.ws.send('still here');
    await next(connected, 2);
    const closing = gw.close();
    closed = true;
    expect(await connected.closed).toEqual({ code: 1001, reason: 'gateway shutting down' });
    await closing;
  });
});
