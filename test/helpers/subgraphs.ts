import { startOrdersSubgraph } from '../../subgraphs/orders/index.js';
import { startProductsSubgraph } from '../../subgraphs/products/index.js';
import type { SubgraphName, SubgraphServer } from '../../subgraphs/shared/server.js';
import { startUsersSubgraph } from '../../subgraphs/users/index.js';

export interface DemoSubgraphs {
  users: SubgraphServer;
  orders: SubgraphServer;
  products: SubgraphServer;
  /** GraphQL endpoint of each subgraph, e.g. http://127.0.0.1:54321/graphql */
  urls: Record<SubgraphName, string>;
  close(): Promise<void>;
}

/** Starts the three demo subgraphs on 127.0.0.1, each on a free port. */
export async function startDemoSubgraphs(): Promise<DemoSubgraphs> {
  const options = { host: '127.0.0.1', port: 0 };
  const started = await Promise.allSettled([
    startUsersSubgraph(options),
    startOrdersSubgraph(options),
    startProductsSubgraph(options),
  ]);
  const servers = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const failure = started.find((result) => result.status === 'rejected');
  if (failure) {
    await Promise.all(servers.map((server) => server.close()));
    throw failure.reason;
  }
  const [users, orders, products] = servers as [SubgraphServer, SubgraphServer, SubgraphServer];
  return {
    users,
    orders,
    products,
    urls: { users: users.url, orders: orders.url, products: products.url },
    close: async () => {
      await Promise.all(servers.map((server) => server.close()));
    },
  };
}
