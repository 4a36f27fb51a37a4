import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

export interface UpstreamOptions {
  /** How often the upstream connection is re-established after it was lost, before its subscriptions get an error. */
  retryAttempts: number;
  /** The first wait before a reconnect, doubled each attempt (with jitter), at most `retryMaxMs`. */
  retryBaseMs: number;
  retryMaxMs: number;
  /** Longest stall of the WebSocket handshake, then longest wait for the subgraph's `connection_ack` (and for a closing frame). */
  connectTimeoutMs: number;
}

/** A shared upstream connection lent to one subscription; `release()` when the subscription ends. */
export interface UpstreamLease {
  readonly client: Client;
  release(): void;
  /**
   * The connection failed for good (graphql-ws ran out of reconnects): no new subscription is lent
   * it, even before the ones on it have all ended (it would wait a back-off for one last attempt).
   */
  retire(): void;
}

/** A WebSocket class as graphql-ws calls it. */
type SocketType = new (address: string | URL, protocols?: string | string[]) => WebSocket;

interface Shared {
  client: Client;
  users: number;
}

/**
 * The gateway's `graphql-transport-ws` connections to subgraphs. Subscriptions to one subgraph URL
 * with the same connection headers (the caller's identity headers, sent as
 * `connectionParams.headers`) share one WebSocket: the protocol runs many subscriptions over one
 * connection, each under its own id, and a subgraph authorizes a connection by its
 * `connectionParams`, so callers whose headers differ never share one. A connection opens with its
 * first subscription and is closed when its last one ends; when it drops, graphql-ws reconnects it
 * with back-off and subscribes every subscription on it again.
 */
export class UpstreamConnections {
  private readonly shared = new Map<string, Shared>();
  /** graphql-ws makes its sockets with `new WebSocketImpl(url, protocol)`: the handshake deadline is a subclass's, one per value. */
  private readonly socketTypes = new Map<number, SocketType>();

  constructor(private readonly options: () => UpstreamOptions) {}

  /** Connections open or opening now. */
  get size(): number {
    return this.shared.size;
  }

  lease(url: string, headers: Readonly<Record<string, string>>): UpstreamLease {
    const key = connectionKey(url, headers);
    let shared = this.shared.get(key);
    if (!shared) {
      shared = { client: this.connect(url, headers), users: 0 };
      this.shared.set(key, shared);
    }
    shared.users++;
    const lent = shared;
    const retire = () => {
      if (this.shared.get(key) === lent) this.shared.delete(key);
    };
    let released = false;
    return {
      client: lent.client,
      retire,
      release: () => {
        if (released) return;
        released = true;
        if (--lent.users > 0) return;
        retire();
        // dispose() awaits the connection in progress, which rejects when it fails or, between two
        // reconnects, is given up because nothing is subscribed any more: nothing is left to close then.
        Promise.resolve(lent.client.dispose()).catch(() => undefined);
      },
    };
  }

  private connect(url: string, headers: Readonly<Record<string, string>>): Client {
    const { retryAttempts, retryBaseMs, retryMaxMs, connectTimeoutMs } = this.options();
    return createClient({
      url,
      webSocketImpl: this.socketType(connectTimeoutMs),
      connectionAckWaitTimeout: connectTimeoutMs,
      connectionParams: { headers },
      lazy: true,
      retryAttempts,
      shouldRetry: () => true,
      retryWait: async (retries) => {
        const wait = Math.min(retryMaxMs, retryBaseMs * 2 ** retries);
        await new Promise((resolve) => setTimeout(resolve, wait / 2 + Math.random() * (wait / 2)));
      },
    });
  }

  /**
   * ws's handshake timeout is an idle one (no byte for that long), and a socket it closes waits up to
   * `closeTimeout` (30 s by default) for the peer's closing frame: graphql-ws counts the connection
   * lost only then, so a subgraph that hung after the upgrade would hold each attempt 30 s longer
   * than the deadline. Both take the deadline here.
   */
  private socketType(timeout: number): SocketType {
    let type = this.socketTypes.get(timeout);
    if (!type) {
      // `closeTimeout` is read by ws 8 (websocket.js) but not declared in @types/ws.
      const options = { handshakeTimeout: timeout, closeTimeout: timeout } as WebSocket.ClientOptions;
      type = class extends WebSocket {
        constructor(address: string | URL, protocols?: string | string[]) {
          super(address, protocols, options);
        }
      };
      this.socketTypes.set(timeout, type);
    }
    return type;
  }
}

/** The URL and the headers in name order (the same headers built in another order are the same connection). */
function connectionKey(url: string, headers: Readonly<Record<string, string>>): string {
  const names = Object.keys(headers).sort();
  return JSON.stringify([url, ...names.map((name) => [name, headers[name]])]);
}
