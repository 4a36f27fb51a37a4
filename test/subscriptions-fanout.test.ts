import { describe, expect, it } from 'vitest';
import { DEV_ISSUER, signDevToken } from '../gateway/src/auth/dev-secret.js';
import type { OrdersSubgraphServer } from '../subgraphs/orders/index.js';
import { catalogueProducts } from '../subgraphs/shared/catalogue.js';
import { devBearer } from './helpers/auth.js';
import { postGraphql } from './helpers/gateway.js';
import { useDemoStack } from './helpers/subgraphs.js';
import { useWsClients } from './helpers/ws-clients.js';

/**
 * One upstream event reaches every subscriber at once, and each runs the rest of its plan with its
 * own identity (no two callers' subgraph calls can be shared). The gateway runs at most
 * `subscriptions.maxConcurrentEvents` of them at a time, so the fan-out queues instead of
 * overflowing the subgraphs' bulkheads (whose refusals would null `user` and `product`).
 */
const SUBSCRIBERS = 20;
const UPC = catalogueProducts()[0]!.upc;
const QUERY = 'subscription { orderCreated { id user { name } items { quantity product { name price } } } }';

interface Result {
  data?: { orderCreated?: { id: string; user: { name: string } | null; items: { product: { name: string } | null }[] } } | null;
  errors?: unknown[];
}

const waitFor = async (check: () => boolean) => {
  for (let i = 0; i < 1_000 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
};

describe('one event fanned out to many subscribers', () => {
  const stack = useDemoStack({
    auth: { jwt: { issuers: [DEV_ISSUER] } },
    subscriptions: { maxConcurrentEvents: 2 },
    // Three calls in flight per subgraph: 20 subscribers' entity fetches at once would overflow it.
    resilience: { subgraphDefaults: { bulkhead: { maxConcurrent: 3 }, retry: { maxRetries: 0 } } },
    rateLimit: {
      store: 'memory',
      tiers: {
        free: {
          maxCost: 5_000,
          maxDepth: 10,
          maxAliases: 10,
          maxRootFields: 10,
          limits: [{ name: 'burst', kind: 'token_bucket', capacity: 100_000_000, refillPerSecond: 1 }],
        },
      },
    },
  });
  const wsClient = useWsClients(() => stack.gw.graphqlUrl);

  it('every subscriber gets the event with data from all three subgraphs', async () => {
    const orders = stack.subgraphs.orders as OrdersSubgraphServer;
    const before = orders.store.events.subscriberCount;
    const received: Result[][] = [];
    for (let n = 0; n < SUBSCRIBERS; n++) {
      const token = await signDevToken({ sub: `watcher-${n}`, scopes: ['orders:read:all'] });
      const client = wsClient({ authorization: `Bearer ${token}` });
      const mine: Result[] = [];
      received.push(mine);
      client.subscribe(
        { query: QUERY },
        { next: (value) => void mine.push(value as Result), error: () => undefined, complete: () => undefined },
      );
    }
    await waitFor(() => orders.store.events.subscriberCount >= before + SUBSCRIBERS);
    expect(orders.store.events.subscriberCount).toBe(before + SUBSCRIBERS);

    const created = await postGraphql(
      stack.gw.graphqlUrl,
      { query: `mutation { createOrder(input: { items: [{ upc: "${UPC}", quantity: 2 }] }) { id } }` },
      await devBearer('user-1', ['orders:write']),
    );
    const id = (created.body.data as { createOrder: { id: string } }).createOrder.id;
    await waitFor(() => received.every((mine) => mine.length > 0));

    for (const mine of received) {
      expect(mine).toHaveLength(1);
      const [result] = mine;
      expect(result?.errors).toBeUndefined();
      expect(result?.data?.orderCreated).toMatchObject({
        id,
        user: { name: expect.any(String) },
        items: [{ quantity: 2, product: { name: expect.any(String), price: expect.any(Number) } }],
      });
    }
  });
});
