import type { GatewayConfigInput } from '../../gateway/src/config/index.js';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll } from 'vitest';
import { DEV_ISSUER } from '../../gateway/src/auth/dev-secret.js';
import { startOrdersSubgraph } from '../../subgraphs/orders/index.js';
import { startProductsSubgraph } from '../../subgraphs/products/index.js';
import type { SubgraphName, SubgraphServer } from '../../subgraphs/shared/server.js';
import { startUsersSubgraph } from '../../subgraphs/users/index.js';
import { startTestGateway, type TestGateway } from './gateway.js';

export const DEMO_SUPERGRAPH = fileURLToPath(new URL('../../schema/supergraph.graphql', import.meta.url));

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
  const started = await Promise.allSettled([startUsersSubgraph(options), startOrdersSubgraph(options), startProductsSubgraph(options)]);
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

export interface DemoStack {
  subgraphs: DemoSubgraphs;
  gw: TestGateway;
}

/**
 * The demo subgraphs behind a gateway on the committed supergraph that trusts the demo's dev
 * issuer (as `npm start` does), for the calling test file (beforeAll / afterAll).
 */
export function useDemoStack(overrides: GatewayConfigInput = {}): DemoStack {
  const stack = {} as DemoStack;
  beforeAll(async () => {
    stack.subgraphs = await startDemoSubgraphs();
    stack.gw = await startTestGateway({
      supergraph: { path: DEMO_SUPERGRAPH, watch: false },
      auth: { jwt: { issuers: [DEV_ISSUER] } },
      subgraphs: {
        users: { url: stack.subgraphs.urls.users },
        orders: { url: stack.subgraphs.urls.orders },
        products: { url: stack.subgraphs.urls.products },
      },
      ...overrides,
    });
  });
  afterAll(async () => {
    await stack.gw?.close();
    await stack.subgraphs?.close();
  });
  return stack;
}
