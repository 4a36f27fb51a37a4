import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOrderStore } from '../subgraphs/orders/data.js';
import { DataAccessStats } from '../subgraphs/shared/stats.js';
import { createUserStore } from '../subgraphs/users/data.js';
import { startDemoSubgraphs, type DemoSubgraphs } from './helpers/subgraphs.js';

interface GraphQLErrorBody {
  message: string;
  extensions?: { code?: string; field?: string; stacktrace?: unknown };
}

interface GraphQLResponse<TData> {
  data?: TData | null;
  errors?: GraphQLErrorBody[];
}

interface PageInfo {
  hasNextPage: boolean;
  hasPreviousPage: boolean;
  startCursor: string | null;
  endCursor: string | null;
}

interface Connection<TNode> {
  totalCount: number;
  pageInfo: PageInfo;
  edges: { cursor: string; node: TNode }[];
}

interface OrderView {
  id: string;
  status: string;
  total: number;
  createdAt: string;
  user: { id: string } | null;
  items: { quantity: number; unitPrice: number; product: { upc: string } | null }[];
}

let subgraphs: DemoSubgraphs;

beforeAll(async () => {
  subgraphs = await startDemoSubgraphs();
});

afterAll(async () => {
  await subgraphs?.close();
});

async function graphql<TData>(
  url: string,
  query: string,
  variables: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Promise<GraphQLResponse<TData>> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query, variables }),
  });
  expect(response.status).toBe(200);
  return (await response.json()) as GraphQLResponse<TData>;
}

/** Data of a response that must have succeeded. */
async function graphqlData<TData>(
  url: string,
  query: string,
  variables?: Record<string, unknown>,
  headers?: Record<string, string>,
): Promise<TData> {
  const body = await graphql<TData>(url, query, variables, headers);
  expect(body.errors).toBeUndefined();
  return body.data as TData;
}

/** The single error of a response that must have failed. */
async function graphqlError(
  url: string,
  query: string,
  variables?: Record<string, unknown>,
  headers?: Record<string, string>,
): Promise<GraphQLErrorBody> {
  const body = await graphql<unknown>(url, query, variables, headers);
  expect(body.errors).toHaveLength(1);
  const [error] = body.errors ?? [];
  expect(error?.extensions?.stacktrace).toBeUndefined();
  return error as GraphQLErrorBody;
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, index) => from + index);
}

const USERS_PAGE = `query($first: Int, $after: String) {
  users(first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id } }
  }
}`;

const USER_ENTITIES = `query($representations: [_Any!]!) {
  _entities(representations: $representations) { ... on User { id name email tier } }
}`;

const PRODUCT_ENTITIES = `query($representations: [_Any!]!) {
  _entities(representations: $representations) { ... on Product { upc name price inStock } }
}`;

const USER_ORDERS_ENTITIES = `query($representations: [_Any!]!, $first: Int, $after: String) {
  _entities(representations: $representations) {
    ... on User {
      id
      orders(first: $first, after: $after) {
        totalCount
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
        edges { cursor node { id createdAt } }
      }
    }
  }
}`;

const ORDER_FIELDS = 'id status total createdAt user { id } items { quantity unitPrice product { upc } }';

describe('every subgraph', () => {
  it.each(['users', 'orders', 'products'] as const)('%s answers GET /health', async (name) => {
    const response = await fetch(`${subgraphs[name].origin}/health`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
  });

  it('serves the same seeded data on every start', async () => {
    const first = createUserStore(new DataAccessStats()).listUsers();
    const second = createUserStore(new DataAccessStats()).listUsers();
    expect(second).toEqual(first);
    const ids = range(1, 20_000).map((ordinal) => `order-${ordinal}`);
    const ordersA = await createOrderStore(new DataAccessStats()).findOrdersByIds(ids);
    const ordersB = await createOrderStore(new DataAccessStats()).findOrdersByIds(ids);
    expect(ordersB).toEqual(ordersA);
    expect(ordersA.every((order) => order !== null)).toBe(true);
  });
});

describe('users subgraph', () => {
  it('resolves a user by id, and null for an unknown id', async () => {
    const data = await graphqlData<{ known: unknown; unknown: unknown }>(
      subgraphs.urls.users,
      '{ known: user(id: "user-42") { id name email tier } unknown: user(id: "user-999999") { id } }',
    );
    expect(data.known).toMatchObject({ id: 'user-42', name: expect.any(String), email: expect.stringContaining('@') });
    expect(['free', 'pro', 'enterprise']).toContain((data.known as { tier: string }).tier);
    expect(data.unknown).toBeNull();
  });

  it('resolves me from the x-user-id header, and null without one or for an unknown id', async () => {
    const query = '{ me { id } }';
    const withHeader = await graphql<{ me: unknown }>(subgraphs.urls.users, query, {}, { 'x-user-id': 'user-7' });
    expect(withHeader).toEqual({ data: { me: { id: 'user-7' } } });
    expect(await graphql(subgraphs.urls.users, query)).toEqual({ data: { me: null } });
    expect(await graphql(subgraphs.urls.users, query, {}, { 'x-user-id': 'nobody' })).toEqual({ data: { me: null } });
  });

  it('pages through all 5,000 users without overlap or gap', async () => {
    const seen: string[] = [];
    let after: string | null = null;
    let pages = 0;
    for (;;) {
      const { users }: { users: Connection<{ id: string }> } = await graphqlData(subgraphs.urls.users, USERS_PAGE, {
        first: 100,
        after,
      });
      pages++;
      expect(users.totalCount).toBe(5_000);
      expect(users.pageInfo.hasPreviousPage).toBe(after !== null);
      expect(users.pageInfo.startCursor).toBe(users.edges[0]?.cursor);
      expect(users.pageInfo.endCursor).toBe(users.edges.at(-1)?.cursor);
      seen.push(...users.edges.map((edge) => edge.node.id));
      if (!users.pageInfo.hasNextPage) break;
      after = users.pageInfo.endCursor;
    }
    expect(pages).toBe(50);
    expect(seen).toEqual(range(1, 5_000).map((ordinal) => `user-${ordinal}`));
  });

  it('gives the same users in small pages as in one big page', async () => {
    const { users: big } = await graphqlData<{ users: Connection<{ id: string }> }>(subgraphs.urls.users, USERS_PAGE, {
      first: 21,
    });
    const small: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 3; page++) {
      const { users }: { users: Connection<{ id: string }> } = await graphqlData(subgraphs.urls.users, USERS_PAGE, {
        first: 7,
        after,
      });
      expect(users.pageInfo.hasNextPage).toBe(true);
      small.push(...users.edges.map((edge) => edge.node.id));
      after = users.pageInfo.endCursor;
    }
    expect(small).toEqual(big.edges.map((edge) => edge.node.id));
  });

  it('returns an empty page for first: 0', async () => {
    const { users } = await graphqlData<{ users: Connection<{ id: string }> }>(subgraphs.urls.users, USERS_PAGE, {
      first: 0,
    });
    expect(users.edges).toEqual([]);
    expect(users.pageInfo).toEqual({ hasNextPage: true, hasPreviousPage: false, startCursor: null, endCursor: null });
  });

  it.each([
    { variables: { first: 101 }, field: 'first' },
    { variables: { first: -1 }, field: 'first' },
    { variables: { first: 5, after: 'not-a-cursor' }, field: 'after' },
    { variables: { first: 5, after: Buffer.from('offset:-3').toString('base64url') }, field: 'after' },
  ])('rejects $variables with BAD_USER_INPUT on $field', async ({ variables, field }) => {
    const error = await graphqlError(subgraphs.urls.users, USERS_PAGE, variables);
    expect(error.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
  });

  it('resolves N user entities with one call to the data layer', async () => {
    const ids = range(100, 124).map((ordinal) => `user-${ordinal}`);
    subgraphs.users.stats.reset();
    const data = await graphqlData<{ _entities: ({ id: string } | null)[] }>(subgraphs.urls.users, USER_ENTITIES, {
      representations: [...ids, 'user-100', 'user-0'].map((id) => ({ __typename: 'User', id })),
    });
    expect(data._entities.map((user) => user?.id ?? null)).toEqual([...ids, 'user-100', null]);
    // 25 distinct known ids plus one unknown; DataLoader drops the duplicate.
    expect(subgraphs.users.stats.batch('usersById')).toEqual({ calls: 1, keys: 26, lastBatchSize: 26 });
  });
});

describe('users legacy REST routes', () => {
  const get = async (path: string): Promise<{ status: number; body: unknown }> => {
    const response = await fetch(`${subgraphs.users.origin}${path}`);
    return { status: response.status, body: await response.json() };
  };

  it('returns one user as JSON', async () => {
    const { status, body } = await get('/api/v1/users/user-3');
    expect(status).toBe(200);
    expect(body).toEqual({ id: 'user-3', name: expect.any(String), email: expect.any(String), tier: expect.any(String) });
  });

  it('returns 404 NOT_FOUND for an unknown user', async () => {
    const { status, body } = await get('/api/v1/users/user-0');
    expect(status).toBe(404);
    expect(body).toEqual({ error: 'NOT_FOUND', message: expect.stringContaining('user-0') });
  });

  it('lists users with limit and offset', async () => {
    const defaults = await get('/api/v1/users');
    expect(defaults.status).toBe(200);
    expect(defaults.body).toMatchObject({ total: 5_000, limit: 20, offset: 0 });
    expect((defaults.body as { users: unknown[] }).users).toHaveLength(20);

    const page = await get('/api/v1/users?limit=3&offset=10');
    expect(page.body).toMatchObject({ total: 5_000, limit: 3, offset: 10 });
    expect((page.body as { users: { id: string }[] }).users.map((user) => user.id)).toEqual(['user-11', 'user-12', 'user-13']);
  });

  it.each(['limit=0', 'limit=101', 'limit=abc', 'limit=2.5', 'offset=-1'])('returns 400 BAD_REQUEST for %s', async (query) => {
    const { status, body } = await get(`/api/v1/users?${query}`);
    expect(status).toBe(400);
    expect(body).toEqual({ error: 'BAD_REQUEST', message: expect.any(String) });
  });
});

describe('products subgraph', () => {
  it('resolves a product by upc, and null for an unknown upc', async () => {
    const data = await graphqlData<{ known: unknown; unknown: unknown }>(
      subgraphs.urls.products,
      '{ known: product(upc: "upc-0001") { upc name price inStock } unknown: product(upc: "upc-9999") { upc } }',
    );
    expect(data.known).toEqual({ upc: 'upc-0001', name: expect.any(String), price: expect.any(Number), inStock: expect.any(Boolean) });
    expect(data.unknown).toBeNull();
  });

  it('returns topProducts, 5 by default, in catalogue order', async () => {
    const data = await graphqlData<{ five: { upc: string }[]; three: { upc: string }[]; none: unknown[] }>(
      subgraphs.urls.products,
      '{ five: topProducts { upc } three: topProducts(first: 3) { upc } none: topProducts(first: 0) { upc } }',
    );
    expect(data.five.map((product) => product.upc)).toEqual(['upc-0001', 'upc-0002', 'upc-0003', 'upc-0004', 'upc-0005']);
    expect(data.three).toEqual(data.five.slice(0, 3));
    expect(data.none).toEqual([]);
  });

  it('rejects topProducts(first: 101) with BAD_USER_INPUT', async () => {
    const error = await graphqlError(subgraphs.urls.products, '{ topProducts(first: 101) { upc } }');
    expect(error.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'first' });
  });

  it('resolves N product entities with one call to the data layer', async () => {
    const upcs = range(1, 40).map((ordinal) => `upc-${String(ordinal * 50).padStart(4, '0')}`);
    subgraphs.products.stats.reset();
    const data = await graphqlData<{ _entities: ({ upc: string } | null)[] }>(subgraphs.urls.products, PRODUCT_ENTITIES, {
      representations: upcs.map((upc) => ({ __typename: 'Product', upc })),
    });
    expect(data._entities.map((product) => product?.upc)).toEqual(upcs);
    expect(subgraphs.products.stats.batch('productsByUpc')).toEqual({ calls: 1, keys: 40, lastBatchSize: 40 });
  });
});

describe('orders subgraph', () => {
  const createOrder = `mutation($input: CreateOrderInput!) { createOrder(input: $input) { ${ORDER_FIELDS} } }`;
  const cancelOrder = `mutation($id: ID!) { cancelOrder(id: $id) { id status } }`;
  /** What the gateway sends for a signed-in user, and for a caller allowed to read everyone's orders. */
  const as = (userId: string) => ({ 'x-user-id': userId, 'x-user-scopes': 'orders:write' });
  const OPERATOR = { 'x-user-id': 'ops-console', 'x-user-scopes': 'orders:read:all' };

  async function ordersOf(
    userId: string,
    first: number,
    after: string | null = null,
  ): Promise<Connection<{ id: string; createdAt: string }>> {
    const data = await graphqlData<{ _entities: { orders: Connection<{ id: string; createdAt: string }> }[] }>(
      subgraphs.urls.orders,
      USER_ORDERS_ENTITIES,
      { representations: [{ __typename: 'User', id: userId }], first, after },
      as(userId),
    );
    return data._entities[0]!.orders;
  }

  it('resolves an order with references to its user and products', async () => {
    const { order } = await graphqlData<{ order: OrderView }>(
      subgraphs.urls.orders,
      `{ order(id: "order-1") { ${ORDER_FIELDS} } }`,
      {},
      OPERATOR,
    );
    expect(order.id).toBe('order-1');
    expect(order.user?.id).toMatch(/^user-\d+$/);
    expect(order.items.length).toBeGreaterThanOrEqual(1);
    expect(order.items.length).toBeLessThanOrEqual(5);
    expect(new Date(order.createdAt).toISOString()).toBe(order.createdAt);
    const sum = order.items.reduce((total, item) => total + item.quantity * item.unitPrice, 0);
    expect(order.total).toBe(Math.round(sum * 100) / 100);
  });

  it('snapshots unit prices from the same price book the products subgraph serves', async () => {
    const { order } = await graphqlData<{ order: OrderView }>(
      subgraphs.urls.orders,
      `{ order(id: "order-77") { ${ORDER_FIELDS} } }`,
      {},
      OPERATOR,
    );
    const products = await graphqlData<{ _entities: { upc: string; price: number }[] }>(subgraphs.urls.products, PRODUCT_ENTITIES, {
      representations: order.items.map((item) => ({ __typename: 'Product', upc: item.product?.upc })),
    });
    expect(order.items.map((item) => item.unitPrice)).toEqual(products._entities.map((product) => product.price));
  });

  it('returns null for an unknown order', async () => {
    expect(await graphql(subgraphs.urls.orders, '{ order(id: "order-0") { id } }', {}, OPERATOR)).toEqual({ data: { order: null } });
  });

  it('resolves User.orders for N users with one call to the data layer', async () => {
    const userIds = range(1, 30).map((ordinal) => `user-${ordinal}`);
    subgraphs.orders.stats.reset();
    const data = await graphqlData<{ _entities: { id: string; orders: Connection<{ id: string }> }[] }>(
      subgraphs.urls.orders,
      USER_ORDERS_ENTITIES,
      { representations: userIds.map((id) => ({ __typename: 'User', id })), first: 3 },
      OPERATOR,
    );
    expect(data._entities.map((user) => user.id)).toEqual(userIds);
    expect(data._entities.reduce((sum, user) => sum + user.orders.totalCount, 0)).toBeGreaterThan(30);
    expect(subgraphs.orders.stats.batch('ordersByUserId')).toEqual({ calls: 1, keys: 30, lastBatchSize: 30 });
  });

  it('resolves N order entities with one call to the data layer', async () => {
    const ids = range(1, 20).map((ordinal) => `order-${ordinal * 3}`);
    subgraphs.orders.stats.reset();
    const data = await graphqlData<{ _entities: { id: string }[] }>(
      subgraphs.urls.orders,
      'query($representations: [_Any!]!) { _entities(representations: $representations) { ... on Order { id total } } }',
      { representations: ids.map((id) => ({ __typename: 'Order', id })) },
      OPERATOR,
    );
    expect(data._entities.map((order) => order.id)).toEqual(ids);
    expect(subgraphs.orders.stats.batch('ordersById')).toEqual({ calls: 1, keys: 20, lastBatchSize: 20 });
  });

  it("pages through a user's orders, oldest first, without overlap or gap", async () => {
    const all = await ordersOf('user-1', 100);
    expect(all.totalCount).toBeGreaterThan(2);
    const paged: { id: string; createdAt: string }[] = [];
    let after: string | null = null;
    for (;;) {
      const page = await ordersOf('user-1', 2, after);
      expect(page.totalCount).toBe(all.totalCount);
      paged.push(...page.edges.map((edge) => edge.node));
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
    }
    expect(paged).toEqual(all.edges.map((edge) => edge.node));
    const times = paged.map((order) => order.createdAt);
    expect(times).toEqual([...times].sort());
  });

  it('places an order with a price snapshot and adds it to the user', async () => {
    const before = await ordersOf('user-2', 0);
    const { createOrder: order } = await graphqlData<{ createOrder: OrderView }>(
      subgraphs.urls.orders,
      createOrder,
      {
        input: {
          items: [
            { upc: 'upc-0010', quantity: 3 },
            { upc: 'upc-0020', quantity: 1 },
          ],
        },
      },
      as('user-2'),
    );
    expect(order).toMatchObject({ status: 'PENDING', user: { id: 'user-2' } });
    expect(order.items.map((item) => [item.product?.upc, item.quantity])).toEqual([
      ['upc-0010', 3],
      ['upc-0020', 1],
    ]);
    const [first, second] = order.items;
    expect(order.total).toBe(Math.round((3 * first!.unitPrice + second!.unitPrice) * 100) / 100);
    expect(Date.now() - Date.parse(order.createdAt)).toBeLessThan(60_000);

    const after = await ordersOf('user-2', 100);
    expect(after.totalCount).toBe(before.totalCount + 1);
    expect(after.edges.at(-1)?.node.id).toBe(order.id);
    const fetched = await graphqlData<{ order: OrderView }>(
      subgraphs.urls.orders,
      `{ order(id: "${order.id}") { ${ORDER_FIELDS} } }`,
      {},
      as('user-2'),
    );
    expect(fetched.order).toEqual(order);
  });

  it.each([
    { why: 'no items', input: { items: [] }, field: 'input.items' },
    {
      why: 'more than 50 items',
      input: { items: range(1, 51).map(() => ({ upc: 'upc-0001', quantity: 1 })) },
      field: 'input.items',
    },
    {
      why: 'quantity 0',
      input: {
        items: [
          { upc: 'upc-0001', quantity: 1 },
          { upc: 'upc-0002', quantity: 0 },
        ],
      },
      field: 'input.items[1].quantity',
    },
    { why: 'quantity 101', input: { items: [{ upc: 'upc-0001', quantity: 101 }] }, field: 'input.items[0].quantity' },
    { why: 'an unknown upc', input: { items: [{ upc: 'upc-9999', quantity: 1 }] }, field: 'input.items[0].upc' },
  ])('rejects an order with $why: BAD_USER_INPUT on $field, nothing stored', async ({ input, field }) => {
    const before = await ordersOf('user-3', 0);
    const error = await graphqlError(subgraphs.urls.orders, createOrder, { input }, as('user-3'));
    expect(error.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
    expect((await ordersOf('user-3', 0)).totalCount).toBe(before.totalCount);
  });

  it('cancels an order once, then answers ORDER_ALREADY_CANCELLED', async () => {
    const { createOrder: order } = await graphqlData<{ createOrder: OrderView }>(
      subgraphs.urls.orders,
      createOrder,
      { input: { items: [{ upc: 'upc-0004', quantity: 2 }] } },
      as('user-4'),
    );
    const someoneElse = await graphqlError(subgraphs.urls.orders, cancelOrder, { id: order.id }, as('user-5'));
    expect(someoneElse.extensions).toMatchObject({ code: 'NOT_FOUND', field: 'id' });
    const cancelled = await graphqlData<{ cancelOrder: { id: string; status: string } }>(
      subgraphs.urls.orders,
      cancelOrder,
      { id: order.id },
      as('user-4'),
    );
    expect(cancelled.cancelOrder).toEqual({ id: order.id, status: 'CANCELLED' });

    const again = await graphqlError(subgraphs.urls.orders, cancelOrder, { id: order.id }, as('user-4'));
    expect(again.extensions).toMatchObject({ code: 'ORDER_ALREADY_CANCELLED', field: 'id' });
    const fetched = await graphqlData<{ order: { status: string } }>(
      subgraphs.urls.orders,
      `{ order(id: "${order.id}") { status } }`,
      {},
      as('user-4'),
    );
    expect(fetched.order.status).toBe('CANCELLED');
  });

  it('answers NOT_FOUND when cancelling an unknown order', async () => {
    const error = await graphqlError(subgraphs.urls.orders, cancelOrder, { id: 'order-0' }, as('user-4'));
    expect(error.extensions).toMatchObject({ code: 'NOT_FOUND', field: 'id' });
  });

  it("shows a user only their own orders; orders:read:all sees everyone's", async () => {
    const { order } = await graphqlData<{ order: OrderView }>(
      subgraphs.urls.orders,
      `{ order(id: "order-1") { ${ORDER_FIELDS} } }`,
      {},
      OPERATOR,
    );
    const owner = order.user!.id;
    const other = owner === 'user-1' ? 'user-2' : 'user-1';
    const mine = await graphqlData<{ order: { id: string } | null }>(
      subgraphs.urls.orders,
      '{ order(id: "order-1") { id } }',
      {},
      as(owner),
    );
    expect(mine.order).toEqual({ id: 'order-1' });
    const theirs = await graphqlData<{ order: unknown }>(subgraphs.urls.orders, '{ order(id: "order-1") { id } }', {}, as(other));
    expect(theirs.order).toBeNull();
    const anonymous = await graphqlData<{ order: unknown }>(subgraphs.urls.orders, '{ order(id: "order-1") { id } }');
    expect(anonymous.order).toBeNull();

    const entities = await graphqlData<{ _entities: { id: string; orders: unknown }[] }>(
      subgraphs.urls.orders,
      USER_ORDERS_ENTITIES,
      {
        representations: [
          { __typename: 'User', id: owner },
          { __typename: 'User', id: other },
        ],
        first: 1,
      },
      as(owner),
    );
    expect(entities._entities[0]?.orders).not.toBeNull();
    expect(entities._entities[1]?.orders).toBeNull();
  });

  it('places orders for the caller only: no x-user-id is UNAUTHENTICATED, an unknown caller BAD_USER_INPUT', async () => {
    const input = { items: [{ upc: 'upc-0001', quantity: 1 }] };
    const anonymous = await graphqlError(subgraphs.urls.orders, createOrder, { input });
    expect(anonymous.extensions).toMatchObject({ code: 'UNAUTHENTICATED' });
    const unknown = await graphqlError(subgraphs.urls.orders, createOrder, { input }, as('user-0'));
    expect(unknown.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'x-user-id' });
  });
});
