import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';

export interface WsUpstream {
  /** e.g. http://127.0.0.1:54321 */
  readonly origin: string;
  /** Each accepted handshake: its path and query, and headers. */
  readonly handshakes: { url: string; headers: IncomingHttpHeaders }[];
  /** Connections open now. */
  readonly open: Set<WebSocket>;
  /** Close codes and reasons the upstream received. */
  readonly closes: { code: number; reason: string }[];
  close(): Promise<void>;
}

const UNAUTHORIZED_BODY = JSON.stringify({ error: 'token expired' });
/** Answers to upgrades of paths holding these, instead of a WebSocket. */
const refusals: [string, string][] = [
  ['/forbidden', 'HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n'],
  [
    '/unauthorized',
    'HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\nwww-authenticate: Bearer realm="ws"\r\n' +
      `x-upstream-secret: s3cret\r\ncontent-length: ${UNAUTHORIZED_BODY.length}\r\n\r\n${UNAUTHORIZED_BODY}`,
  ],
  ['/long-refusal', `HTTP/1.1 404 Not Found\r\ncontent-type: text/plain\r\ncontent-length: 100000\r\n\r\n${'x'.repeat(100_000)}`],
  ['/broken', 'HTTP/1.1 500 Internal Server Error\r\ncontent-length: 4\r\n\r\noops'],
  ['/not-websocket', 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok'],
  ['/moved', 'HTTP/1.1 302 Found\r\nlocation: /elsewhere\r\ncontent-length: 0\r\n\r\n'],
  ['/untyped', 'HTTP/1.1 401 Unauthorized\r\ncontent-length: 6\r\n\r\ndenied'],
];
/** Upgrades of paths holding this get the head of a 401 and 3 of its 100 bytes, then nothing. */
const STALLED = ['/stalled', 'HTTP/1.1 401 Unauthorized\r\ncontent-type: text/plain\r\ncontent-length: 100\r\n\r\nabc'] as const;

/**
 * A WebSocket service on 127.0.0.1 port 0: greets each connection with `hello from <name>`, echoes
 * every message (text as text, binary as binary), closes with 4001 "bye" when sent `close-me`,
 * picks the first subprotocol offered, and answers an upgrade of `…/forbidden` with 403, `…/unauthorized`
 * with 401 (a JSON body, `www-authenticate` and a header of its own), `…/long-refusal` with a 404 of
 * 100,000 bytes, `…/broken` with 500, `…/not-websocket` with 200, `…/moved` with 302, `…/untyped`
 * with a 401 whose body has no type, and sends `…/stalled` the start of a 401 and then nothing.
 */
export async function startWsUpstream(name: string): Promise<WsUpstream> {
  const handshakes: WsUpstream['handshakes'] = [];
  const open = new Set<WebSocket>();
  const closes: WsUpstream['closes'] = [];
  const stalled = new Set<Duplex>();
  const server = createServer((_request, response) => response.writeHead(426).end());
  const wss = new WebSocketServer({ noServer: true, handleProtocols: (protocols) => [...protocols][0] ?? false });
  server.on('upgrade', (request, socket, head) => {
    socket.on('error', () => undefined);
    const refusal = refusals.find(([path]) => request.url?.includes(path));
    if (refusal) return void socket.end(refusal[1]);
    if (request.url?.includes(STALLED[0])) {
      stalled.add(socket);
      return void socket.write(STALLED[1]);
    }
    wss.handleUpgrade(request, socket, head, (ws) => {
      handshakes.push({ url: request.url ?? '', headers: request.headers });
      open.add(ws);
      ws.send(`hello from ${name}`);
      ws.on('message', (data, binary) => {
        if (!binary && data.toString() === 'close-me') return void ws.close(4001, 'bye');
        ws.send(data, { binary });
      });
      ws.on('close', (code, reason) => {
        open.delete(ws);
        closes.push({ code, reason: reason.toString() });
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    handshakes,
    open,
    closes,
    async close() {
      for (const ws of wss.clients) ws.terminate();
      for (const socket of stalled) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
