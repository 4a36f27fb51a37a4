import { copyFileSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient as createWsClient, type Client as WsClient } from 'graphql-ws';
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { OrdersSubgraphServer } from '../subgraphs/orders/index.js';
import { catalogueProducts } from '../subgraphs/shared/catalogue.js';
import { devBearer } from './helpers/auth.js';
import { postGraphql } from './helpers/gateway.js';
import { DEMO_SUPERGRAPH, useDemoStack } from './helpers/subgraphs.js';

/** A supergraph hot reload keeps the subscriptions it plans the same way and ends the others with a reason. */

const UPC = catalogueProducts()[0]!.upc;
const CREATE = `mutation { createOrder(input: { items: [{ upc: "${UPC}", quantity: 1 }] }) { id } }`;
const supergraphPath = join(mkdtempSync(join(tmpdir(), 'gw-subs-reload-')), 'supergraph.graphql');
copyFileSync(DEMO_SUPERGRAPH, supergraphPath);

interface Result {
  data?: Record<string, unknown> | null;
  errors?: { message: string; extensions?: { code?: string } }[];
}

const waitFor = async (check: () => boolean) => {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
};

describe('subscriptions across a supergraph hot reload', () => {
  const stack = useDemoStack({ supergraph: { path: supergraphPath, watch: true, pollIntervalMs: 50 } });
  const orders = () => stack.subgraphs.orders as OrdersSubgraphServer;
  const clients: WsClient[] = [];
  afterAll(async () => {
    await Promise.all(clients.map((client) => client.dispose()));
  });

  const subscribe = (authorization: string, query: string) => {
    const client = createWsClient({
      url: stack.gw.graphqlUrl.replace(/^http/, 'ws'),
      webSocketImpl: WebSocket,
      connectionParams: { authorization },
      retryAttempts: 0,
    });
    clients.push(client);
    const seen: { results: Result[]; completed: boolean } = { results: [], completed: false };
    client.subscribe(
      { query },
      {
        next: (value) => void seen.results.push(value as Result),
        error: () => (seen.completed = true),
        complete: () => (seen.completed = true),
      },
    );
    return seen;
  };

  it('ends a subscription whose plan no longer holds (SUBSCRIPTION_SCHEMA_CHANGED, then complete) and keeps the others', async () => {
    const headers = await devBearer('user-18', ['orders:write']);
    const before = orders().store.events.subscriberCount;
    const priced = subscribe(headers.authorization!, 'subscription { orderCreated { id items { product { name price } } } }');
    const plain = subscribe(headers.authorization!, 'subscription { orderCreated { id } }');
    await waitFor(() => orders().store.events.subscriberCount === before + 2);
    expect(orders().store.events.subscriberCount).toBe(before + 2);

    // The next supergraph no longer has Product.price (written beside, then renamed over, as deploy tools do).
    const next = readFileSync(DEMO_SUPERGRAPH, 'utf8').replace(/\n {2}price: Float! @join__field\(graph: PRODUCTS\)\n/, '\n');
    expect(next).not.toContain('price: Float! @join__field(graph: PRODUCTS)');
    writeFileSync(`${supergraphPath}.next`, next);
    renameSync(`${supergraphPath}.next`, supergraphPath);

    await waitFor(() => priced.completed);
    expect(priced.results).toEqual([
      {
        errors: [{ message: expect.stringContaining('no longer plans the same way'), extensions: { code: 'SUBSCRIPTION_SCHEMA_CHANGED' } }],
      },
    ]);
    expect(stack.gw.logs.lines.filter((line) => line.msg === 'subscription ended').map((line) => line.reason)).toEqual(['schema_changed']);

    const created = await postGraphql(stack.gw.graphqlUrl, { query: CREATE }, headers);
    const id = (created.body.data?.createOrder as { id: string }).id;
    await waitFor(() => plain.results.length > 0);
    expect(plain.results).toEqual([{ data: { orderCreated: { id } } }]);
    expect(plain.completed).toBe(false);
  });
});
