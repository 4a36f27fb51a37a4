import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';
import { listenKillable } from './killable.js';

/** What the proxy does with the next requests. */
export type FaultMode =
  | { kind: 'pass' }
  /** Waits `ms` before forwarding (the client may give up first). */
  | { kind: 'slow'; ms: number }
  /** Waits `ms` before forwarding every `every`-th request, forwards the others at once (a latency tail). */
  | { kind: 'tail'; every: number; ms: number }
  /** Answers this HTTP status with a small text body, without forwarding. */
  | { kind: 'status'; status: number }
  /** Answers `status` to the next `times` requests, then forwards (a subgraph that recovers). */
  | { kind: 'flaky'; status: number; times: number }
  /** Resets every connection as soon as it opens and every request as soon as it arrives. */
  | { kind: 'reset' };

export interface ReceivedRequest {
  headers: IncomingHttpHeaders;
  body: string;
}

export interface FaultProxy {
  /** e.g. http://127.0.0.1:54321/graphql — stays the same across kill() / revive(). */
  readonly url: string;
  mode: FaultMode;
  /** Everything that reached this address: HTTP requests plus connections reset before a request. */
  readonly hits: number;
  readonly requests: ReceivedRequest[];
  readonly inFlight: number;
  readonly maxInFlight: number;
  resetCounters(): void;
  /** Stops listening and cuts every connection: the address refuses connections (ECONNREFUSED). */
  kill(): Promise<void>;
  /** Listens again on the same port. */
  revive(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A controllable stand-in for a subgraph in fault-injection tests: an HTTP server on 127.0.0.1
 * that forwards to a real subgraph, and can be slowed down, made to fail (status / reset), killed
 * and brought back on the same port, counting every request that reaches it.
 */
export async function startFaultProxy(targetUrl: string): Promise<FaultProxy> {
  const upstream = new Agent({ keepAliveTimeout: 5_000, connections: 64 });
  let hits = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  const requests: ReceivedRequest[] = [];
  const state = { mode: { kind: 'pass' } as FaultMode };

  const server: Server = createServer(async (req, res) => {
    hits++;
    const mode = state.mode;
    if (mode.kind === 'reset') {
      req.socket.destroy();
      return;
    }
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    let closed = false;
    res.on('close', () => (closed = true));
    try {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const body = Buffer.concat(chunks).toString('utf8');
      requests.push({ headers: req.headers, body });
      const failWith = mode.kind === 'status' ? mode.status : mode.kind === 'flaky' && mode.times-- > 0 ? mode.status : undefined;
      if (failWith !== undefined) {
        res.writeHead(failWith, { 'content-type': 'text/plain' }).end(`injected ${failWith}`);
        return;
      }
      const delayMs = mode.kind === 'slow' ? mode.ms : mode.kind === 'tail' && hits % mode.every === 0 ? mode.ms : 0;
      if (delayMs > 0) {
        // Bounded: wakes at least every 50 ms and stops waiting once the client has gone.
        for (let waited = 0; waited < delayMs && !closed; waited += 50) await sleep(Math.min(50, delayMs - waited));
        if (closed) return;
      }
      const forwarded = await request(targetUrl, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...pick(req.headers, [
            'x-request-id',
            'x-user-id',
            'x-user-tier',
            'x-user-scopes',
            'x-auth-kind',
            'x-principal-id',
            'x-principal-scopes',
            'authorization',
            'traceparent',
            'tracestate',
          ]),
        },
        body,
        dispatcher: upstream,
      });
      const text = await forwarded.body.text();
      if (!closed) res.writeHead(forwarded.statusCode, { 'content-type': 'application/json' }).end(text);
    } catch {
      if (!closed) res.writeHead(502).end();
    } finally {
      inFlight--;
    }
  });
  server.on('connection', (socket) => {
    if (state.mode.kind === 'reset') {
      hits++;
      socket.resetAndDestroy();
    }
  });

  const { port, kill: stop, revive } = await listenKillable(server);
  const path = new URL(targetUrl).pathname;

  return {
    url: `http://127.0.0.1:${port}${path}`,
    get mode() {
      return state.mode;
    },
    set mode(mode: FaultMode) {
      state.mode = mode;
    },
    get hits() {
      return hits;
    },
    requests,
    get inFlight() {
      return inFlight;
    },
    get maxInFlight() {
      return maxInFlight;
    },
    resetCounters() {
      hits = 0;
      maxInFlight = inFlight;
      requests.length = 0;
    },
    kill: stop,
    revive,
    async close() {
      await stop();
      await upstream.close();
    },
  };
}

function pick(headers: IncomingHttpHeaders, names: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of names) {
    const value = headers[name];
    if (typeof value === 'string') out[name] = value;
  }
  return out;
}
