import { createClient, type Client } from 'graphql-ws';
import { afterAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { useDemoStack } from './helpers/subgraphs.js';

/**
 * Behind a trusted proxy, a WebSocket client is the address X-Forwarded-For names, as on every HTTP
 * route: anonymous callers behind one load balancer are not one client with one budget and one
 * connection allowance.
 */
describe('GraphQL WebSocket clients behind a trusted proxy', () => {
  const stack = useDemoStack({
    server: { trustedProxies: ['127.0.0.1'] },
    subscriptions: { tiers: { anonymous: { maxConnections: 1 } } },
  });
  const clients: Client[] = [];
  afterAll(async () => {
    await Promise.all(clients.map((client) => client.dispose()));
  });

  /** Opens a connection as the proxy would forward `forwardedFor`'s; resolves to how it went. */
  const connect = (forwardedFor: string) =>
    new Promise<string>((resolve) => {
      class Proxied extends WebSocket {
        constructor(url: string, protocols?: string | string[]) {
          super(url, protocols, { headers: { 'x-forwarded-for': forwardedFor } });
        }
      }
      const client = createClient({
        url: stack.gw.graphqlUrl.replace(/^http/, 'ws'),
        webSocketImpl: Proxied,
        retryAttempts: 0,
        // Held open after its one (refused) operation, as a client that keeps its connection does.
        lazyCloseTimeout: 60_000,
      });
      clients.push(client);
      client.on('connected', () => resolve('connected'));
      client.on('closed', (event) => resolve(`closed ${(event as { code: number }).code}`));
      // A lazy client connects for its first operation (anonymous, it is then refused: not what is measured here).
      client.subscribe(
        { query: 'subscription { orderCreated { id } }' },
        { next: () => undefined, error: () => undefined, complete: () => undefined },
      );
    });

  it('counts connections per forwarded client address, not per proxy', async () => {
    expect(await connect('203.0.113.7')).toBe('connected');
    // Another client behind the same proxy has its own allowance.
    expect(await connect('203.0.113.8')).toBe('connected');
    // The same client again is over its one connection.
    expect(await connect('203.0.113.7')).toBe('closed 4429');
  });
});
