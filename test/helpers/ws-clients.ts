import { createClient, type Client } from 'graphql-ws';
import { afterAll } from 'vitest';
import WebSocket from 'ws';

/**
 * graphql-ws clients of the gateway's GraphQL URL (read when a client is made), none retrying,
 * all disposed after the file's tests.
 */
export function useWsClients(graphqlUrl: () => string): (connectionParams: Record<string, unknown>) => Client {
  const clients: Client[] = [];
  afterAll(async () => {
    await Promise.all(clients.map((client) => client.dispose()));
  });
  return (connectionParams) => {
    const client = createClient({
      url: graphqlUrl().replace(/^http/, 'ws'),
      webSocketImpl: WebSocket,
      connectionParams,
      retryAttempts: 0,
    });
    clients.push(client);
    return client;
  };
}
