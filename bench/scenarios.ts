import { isDeepStrictEqual } from 'node:util';
import { mismatch, mismatchText, topProducts, usersOrdersProducts, usersOrdersProductsText } from './expected.js';
import { createUserStore } from '../subgraphs/users/data.js';
import { DataAccessStats } from '../subgraphs/shared/stats.js';

/** What the benchmark sends. Every gateway gets the same requests, in the same order. */
export interface Scenario {
  name: string;
  description: string;
  /** The request body of the i-th request (varied scenarios change variables per request). */
  body(i: number): string;
  /** True when a response body is the right answer (checked once per gateway before the load). */
  check(response: { data?: unknown; errors?: unknown }): boolean;
  /** Why the answer (status and raw body) to the i-th request is wrong, or undefined: checked on every response. */
  verify?(status: number, body: string, i: number): string | undefined;
  /** A REST scenario: GET requests to this path, with these headers (only gateways with a REST passthrough run it). */
  rest?: { path(i: number): string; headers?: Record<string, string> } | undefined;
}

export const CROSS_SUBGRAPH = `query UsersOrdersProducts($after: String) {
  users(first: 10, after: $after) {
    edges { node { id name orders(first: 10) { edges { node { id total items { quantity product { upc name price } } } } } } }
  }
}`;

function cursor(offset: number): string {
  return Buffer.from(`offset:${offset}`).toString('base64url');
}

const hasTenUsersWithProducts = (response: { data?: unknown; errors?: unknown }) => {
  const edges = (
    response.data as { users?: { edges?: { node: { orders: { edges: { node: { items: { product: unknown }[] } }[] } } }[] } } | undefined
  )?.users?.edges;
  return (
    response.errors === undefined &&
    edges?.length === 10 &&
    edges.some((e) => e.node.orders.edges.some((o) => o.node.items.some((it) => it.product !== null)))
  );
};

const expectGraphql = (expected: (i: number) => unknown) => (status: number, body: string, i: number) =>
  status === 200 ? mismatch(body, expected(i)) : `HTTP ${status}: ${body.slice(0, 200)}`;

/** The users → orders → products answer for the page after `after(i)`: its JSON text compared first (see mismatchText). */
const expectUsersOrdersProducts = (after: (i: number) => string | null) => (status: number, body: string, i: number) =>
  status === 200
    ? mismatchText(body, usersOrdersProductsText(after(i)), () => usersOrdersProducts(after(i)))
    : `HTTP ${status}: ${body.slice(0, 200)}`;

const legacyUsers = new Map(
  createUserStore(new DataAccessStats())
    .listUsers()
    .map((user) => [user.id, user]),
);
const VARIED_PAGES = 4_900;

export const SCENARIOS: Scenario[] = [
  {
    name: 'cross-subgraph',
    description: 'users → orders → products, lists of 10 (one identical request)',
    body: () => JSON.stringify({ query: CROSS_SUBGRAPH, operationName: 'UsersOrdersProducts' }),
    check: hasTenUsersWithProducts,
    verify: expectUsersOrdersProducts(() => null),
  },
  {
    name: 'cross-subgraph-varied',
    description: 'the same query, a different page of users on every request (nothing can be collapsed)',
    body: (i) =>
      JSON.stringify({ query: CROSS_SUBGRAPH, operationName: 'UsersOrdersProducts', variables: { after: cursor(i % VARIED_PAGES) } }),
    check: hasTenUsersWithProducts,
    verify: expectUsersOrdersProducts((i) => cursor(i % VARIED_PAGES)),
  },
  {
    name: 'one-subgraph',
    description: 'a trivial query answered by the products subgraph alone',
    body: () => JSON.stringify({ query: 'query Top { topProducts(first: 5) { upc name price } }', operationName: 'Top' }),
    check: (response) =>
      response.errors === undefined && (response.data as { topProducts?: unknown[] } | undefined)?.topProducts?.length === 5,
    verify: expectGraphql(() => topProducts(5)),
  },
  {
    name: 'rest-get',
    description: 'a legacy REST GET through the passthrough (`/legacy/users/:id`, a different user each time)',
    body: () => '',
    check: (response) => typeof (response as { id?: unknown }).id === 'string',
    verify: (status, body, i) => {
      const expected = legacyUsers.get(`user-${(i % 5_000) + 1}`);
      if (status !== 200) return `HTTP ${status}: ${body.slice(0, 200)}`;
      return isDeepStrictEqual(JSON.parse(body), expected) ? undefined : `wrong user: ${body.slice(0, 200)}`;
    },
    rest: { path: (i) => `/legacy/users/user-${(i % 5_000) + 1}` },
  },
  {
    name: 'rest-get-transformed',
    description:
      'the same GET on a route with transforms: a request header and a query parameter renamed, a field removed from the JSON answer',
    body: () => '',
    check: (response) => typeof (response as { id?: unknown }).id === 'string' && !('email' in response),
    verify: (status, body, i) => {
      const { email: _removed, ...expected } = legacyUsers.get(`user-${(i % 5_000) + 1}`) ?? { email: undefined };
      if (status !== 200) return `HTTP ${status}: ${body.slice(0, 200)}`;
      return isDeepStrictEqual(JSON.parse(body), expected) ? undefined : `not the user without its email: ${body.slice(0, 200)}`;
    },
    rest: { path: (i) => `/legacy/users-transformed/user-${(i % 5_000) + 1}?fields=id,name`, headers: { 'x-client-version': '7' } },
  },
];
