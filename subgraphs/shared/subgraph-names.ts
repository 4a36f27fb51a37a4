/** The demo subgraphs and the ports they listen on by default. */
export const SUBGRAPH_NAMES = ['users', 'orders', 'products'] as const;
export type SubgraphName = (typeof SUBGRAPH_NAMES)[number];

export const DEFAULT_SUBGRAPH_PORTS: Readonly<Record<SubgraphName, number>> = {
  users: 4001,
  orders: 4002,
  products: 4003,
};

/** `USERS_PORT`, `ORDERS_PORT`, `PRODUCTS_PORT`: override the default port. */
export function portEnvVariable(name: SubgraphName): string {
  return `${name.toUpperCase()}_PORT`;
}
