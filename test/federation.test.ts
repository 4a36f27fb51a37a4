import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { devBearer as signedIn } from './helpers/auth.js';
import { postGraphql } from './helpers/gateway.js';
import { useDemoStack } from './helpers/subgraphs.js';

// This file checks plain federation: with the fallback cache on, the partial-data test would get
// products from the copies kept by the earlier tests (test/fallback.test.ts covers that).
const stack = useDemoStack({ resilience: { subgraphDefaults: { fallback: { cache: false } } } });

/** Asks one subgraph directly, bypassing the gateway, to know what the right answer is. */
async function direct(url: string, query: string, variables?: Record<string, unknown>, headers: Record<string, string> = {}) {
  const result = await postGraphql(url, { query, variables }, headers);
  expect(result.body.errors).toBeUndefined();
  return result.body.data as Record<string, any>;
}

const CROSS_SUBGRAPH = /* GraphQL */ `
  query UserOrders($id: ID!) {
    user(id: $id) {
      id
      name
      tier
      orders(first: 3) {
        totalCount
        edges {
          node {
            id
            total
            items {
              quantity
              unitPrice
              product {
                upc
                name
                price
              }
            }
          }
        }
      }
    }
  }
`;

describe('federation through the gateway', () => {
  it('answers a query that spans users → orders → products with the data each subgraph holds', async () => {
    const result = await postGraphql(
      stack.gw.graphqlUrl,
      { query: CROSS_SUBGRAPH, variables: { id: 'user-7' }, operationName: 'UserOrders' },
      await signedIn('user-7'),
    );
    expect(result.status).toBe(200);
    expect(result.body.errors).toBeUndefined();
    const user = (result.body.data as Record<string, any>).user;

    const fromUsers = await direct(stack.subgraphs.urls.users, 'query($id: ID!) { user(id: $id) { id name tier } }', { id: 'user-7' });
    expect({ id: user.id, name: user.name, tier: user.tier }).toEqual(fromUsers.user);

    const fromOrders = await direct(
      stack.subgraphs.urls.orders,
      `query($reps: [_Any!]!) { _entities(representations: $reps) { ... on User {
         orders(first: 3) { totalCount edges { node { id total items { quantity unitPrice product { upc } } } } } } } }`,
      { reps: [{ __typename: 'User', id: 'user-7' }] },
      { 'x-user-id': 'user-7' },
    );
    const ordersDirect = fromOrders._entities[0].orders;
    expect(user.orders.totalCount).toBe(ordersDirect.totalCount);
    expect(user.orders.edges.length).toBeGreaterThan(0);
    expect(user.orders.edges.map((e: any) => e.node.id)).toEqual(ordersDirect.edges.map((e: any) => e.node.id));

    for (const [i, edge] of user.orders.edges.entries()) {
      const expectedItems = ordersDirect.edges[i].node.items;
      expect(edge.node.items.map((it: any) => it.product.upc)).toEqual(expectedItems.map((it: any) => it.product.upc));
      const sum = edge.node.items.reduce((acc: number, it: any) => acc + it.quantity * it.unitPrice, 0);
      expect(edge.node.total).toBeCloseTo(Math.round(sum * 100) / 100, 2);
      for (const item of edge.node.items) {
        const product = await direct(stack.subgraphs.urls.products, 'query($upc: String!) { product(upc: $upc) { upc name price } }', {
          upc: item.product.upc,
        });
        expect(item.product).toEqual(product.product);
      }
    }
  });

  it('gives the example query of docs/getting-started.md exactly the answer the page shows', async () => {
    const page = readFileSync(new URL('../docs/getting-started.md', import.meta.url), 'utf8');
    const start = page.indexOf('## A query across all three subgraphs');
    expect(start, 'docs/getting-started.md has "A query across all three subgraphs"').toBeGreaterThan(-1);
    const section = page.slice(start);
    const payload = /-d '(.+)'/.exec(section)?.[1];
    const shown = /```json\n([\s\S]+?)\n```/.exec(section)?.[1];
    expect(payload).toBeDefined();
    expect(shown).toBeDefined();
    // The page signs in as user-1 with `npm run token -- --sub user-1` first.
    expect(section).toContain('npm run -s token -- --sub user-1');
    const result = await postGraphql(stack.gw.graphqlUrl, JSON.parse(payload as string) as { query: string }, await signedIn('user-1'));
    expect(result.body).toEqual(JSON.parse(shown as string));
  });

  it('walks back from orders to their user, and from products lists (as an operator who may read every order)', async () => {
    const result = await postGraphql(
      stack.gw.graphqlUrl,
      {
        query:
          '{ topProducts(first: 3) { upc name price inStock } users(first: 2) { edges { node { id orders(first: 1) { edges { node { id user { id email } } } } } } } }',
      },
      await signedIn('ops-console', ['orders:read:all', 'read:email']),
    );
    expect(result.body.errors).toBeUndefined();
    const data = result.body.data as Record<string, any>;
    expect(data.topProducts).toHaveLength(3);
    for (const edge of data.users.edges) {
      for (const order of edge.node.orders.edges) expect(order.node.user.id).toBe(edge.node.id);
    }
  });

  it('pages through a connection with cursors, without overlap or gap', async () => {
    const page = async (after?: string) =>
      (
        await postGraphql(stack.gw.graphqlUrl, {
          query:
            'query($after: String) { users(first: 25, after: $after) { totalCount edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }',
          variables: after ? { after } : {},
        })
      ).body.data as Record<string, any>;
    const first = await page();
    const second = await page(first.users.pageInfo.endCursor);
    const ids = [...first.users.edges, ...second.users.edges].map((e: any) => e.node.id);
    expect(new Set(ids).size).toBe(50);
    expect(first.users.pageInfo.hasNextPage).toBe(true);
    expect(first.users.totalCount).toBeGreaterThanOrEqual(1_000);

    const all = await postGraphql(stack.gw.graphqlUrl, { query: '{ users(first: 50) { edges { node { id } } } }' });
    expect((all.body.data as any).users.edges.map((e: any) => e.node.id)).toEqual(ids);
  });

  it('runs mutations across subgraphs and returns subgraph errors with their codes', async () => {
    const asUser3 = await signedIn('user-3', ['orders:write']);
    const created = await postGraphql(
      stack.gw.graphqlUrl,
      {
        query:
          'mutation($input: CreateOrderInput!) { createOrder(input: $input) { id status total user { id name } items { quantity product { upc name } } } }',
        variables: { input: { items: [{ upc: 'upc-0001', quantity: 2 }] } },
      },
      asUser3,
    );
    expect(created.body.errors).toBeUndefined();
    const order = (created.body.data as any).createOrder;
    expect(order.user.id).toBe('user-3');
    expect(order.items).toEqual([{ quantity: 2, product: { upc: 'upc-0001', name: expect.any(String) } }]);

    const invalid = await postGraphql(
      stack.gw.graphqlUrl,
      { query: 'mutation { createOrder(input: { items: [{ upc: "upc-0001", quantity: 0 }] }) { id } }' },
      asUser3,
    );
    expect(invalid.status).toBe(200);
    expect(invalid.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });

  it('keeps answering with partial data when one subgraph is down', async () => {
    // The last test of the file: products stays down (afterAll closes it again, which is a no-op).
    await stack.subgraphs.products.close();
    {
      const result = await postGraphql(
        stack.gw.graphqlUrl,
        { query: CROSS_SUBGRAPH, variables: { id: 'user-7' } },
        await signedIn('user-7'),
      );
      expect(result.status).toBe(200);
      const user = (result.body.data as any).user;
      expect(user.id).toBe('user-7');
      expect(user.orders.edges.length).toBeGreaterThan(0);
      for (const edge of user.orders.edges) {
        for (const item of edge.node.items) expect(item.product).toBeNull();
      }
      const codes = new Set(result.body.errors?.map((e) => e.extensions?.code));
      expect(codes).toEqual(new Set(['SUBGRAPH_UNAVAILABLE']));
      expect(result.body.errors?.[0]?.extensions?.subgraph).toBe('products');
    }
  });
});
