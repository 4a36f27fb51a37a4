import { isDeepStrictEqual } from 'node:util';
import { createOrderStore, type Order } from '../subgraphs/orders/data.js';
import { catalogueProducts, centsToAmount, findCatalogueProduct } from '../subgraphs/shared/catalogue.js';
import { paginate } from '../subgraphs/shared/relay.js';
import { DataAccessStats } from '../subgraphs/shared/stats.js';
import { createUserStore } from '../subgraphs/users/data.js';

/**
 * The exact answers the benchmark expects, computed in the bench process from the same seeded data
 * the subgraphs serve (not from any gateway's answer), so that a gateway that answers fast but
 * wrong is caught on every response, not only on a sample.
 */
const users = createUserStore(new DataAccessStats()).listUsers();
const orderStore = createOrderStore(new DataAccessStats());
const ordersByUser = new Map<string, readonly Order[]>();
const allOrders = await orderStore.findOrdersByUserIds(users.map((u) => u.id));
users.forEach((user, index) => ordersByUser.set(user.id, allOrders[index] ?? []));

function product(upc: string): { upc: string; name: string; price: number } | null {
  const entry = findCatalogueProduct(upc);
  return entry ? { upc: entry.upc, name: entry.name, price: centsToAmount(entry.priceCents) } : null;
}

/** `data` of the users → orders → products query for the page after `after` (null: the first page). */
export function usersOrdersProducts(after: string | null): unknown {
  const page = paginate(users, { first: 10, after });
  return {
    users: {
      edges: page.edges.map(({ node: user }) => ({
        node: {
          id: user.id,
          name: user.name,
          orders: {
            edges: paginate(ordersByUser.get(user.id) ?? [], { first: 10 }).edges.map(({ node: order }) => ({
              node: {
                id: order.id,
                total: centsToAmount(order.totalCents),
                items: order.items.map((line) => ({ quantity: line.quantity, product: product(line.upc) })),
              },
            })),
          },
        },
      })),
    },
  };
}

/** `data` of `topProducts(first: n) { upc name price }`. */
export function topProducts(n: number): unknown {
  return {
    topProducts: catalogueProducts()
      .slice(0, n)
      .map((entry) => product(entry.upc)),
  };
}

/** Why a GraphQL response body is not the expected answer, or undefined when it is. */
export function mismatch(body: string, expected: unknown): string | undefined {
  let parsed: { data?: unknown; errors?: unknown };
  try {
    parsed = JSON.parse(body) as typeof parsed;
  } catch {
    return `not JSON: ${body.slice(0, 200)}`;
  }
  if (parsed.errors !== undefined) return `errors: ${JSON.stringify(parsed.errors).slice(0, 300)}`;
  if (!isDeepStrictEqual(parsed.data, expected)) return `wrong data: ${JSON.stringify(parsed.data).slice(0, 300)}`;
  return undefined;
}
