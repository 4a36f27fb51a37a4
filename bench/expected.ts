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

/** One user's node in the users → orders → products answer: the same for every page that holds the user. */
function userNode(user: (typeof users)[number]): unknown {
  return {
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
  };
}

/** `data` of the users → orders → products query for the page after `after` (null: the first page). */
export function usersOrdersProducts(after: string | null): unknown {
  return { users: { edges: paginate(users, { first: 10, after }).edges.map(({ node }) => ({ node: userNode(node) })) } };
}

const userNodeTexts = new Map<string, string>();

/**
 * The same answer as the JSON text a gateway sends, `{"data":…}`, built from each user's node text
 * (kept: 5,000 users, about 7 MB), so that checking an answer costs a string comparison, not a parse
 * and a deep comparison (0.2 ms per answer of this query, CPU the load generator takes from the
 * gateway on a shared machine).
 */
export function usersOrdersProductsText(after: string | null): string {
  const nodes = paginate(users, { first: 10, after }).edges.map(({ node }) => {
    let text = userNodeTexts.get(node.id);
    if (text === undefined) {
      text = JSON.stringify(userNode(node));
      userNodeTexts.set(node.id, text);
    }
    return `{"node":${text}}`;
  });
  return `{"data":{"users":{"edges":[${nodes.join(',')}]}}}`;
}

/** `data` of `topProducts(first: n) { upc name price }`. */
export function topProducts(n: number): unknown {
  return {
    topProducts: catalogueProducts()
      .slice(0, n)
      .map((entry) => product(entry.upc)),
  };
}

/**
 * Why a GraphQL response body is not the expected answer, or undefined when it is. A body that is
 * the expected JSON text (`expectedText`, `{"data":…}`), optionally followed by `extensions` (ours
 * adds the cost there) and a final newline, is right after parsing only that tail; any other body is
 * parsed and its data compared, so a gateway that serialises the same answer differently is not
 * failed for it.
 */
export function mismatchText(body: string, expectedText: string, expected: () => unknown): string | undefined {
  const dataEnd = expectedText.length - 1; // the text up to the answer's closing brace
  if (body.startsWith(expectedText.slice(0, dataEnd)) && onlyExtensionsAfter(body.slice(dataEnd).trimEnd())) return undefined;
  return mismatch(body, expected());
}

/** `}`, or `,"extensions":{…}}`: what may follow the data in a right answer. */
function onlyExtensionsAfter(tail: string): boolean {
  if (tail === '}') return true;
  if (!tail.startsWith(',"extensions":')) return false;
  try {
    const rest = JSON.parse(`{${tail.slice(1)}`) as Record<string, unknown>;
    return Object.keys(rest).length === 1 && typeof rest.extensions === 'object';
  } catch {
    return false;
  }
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
