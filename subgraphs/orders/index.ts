import { isMainModule, runSubgraphFromCommandLine } from '../shared/main-module.js';
import { startSubgraphServer, type StartSubgraphOptions, type SubgraphServer } from '../shared/server.js';
import { DataAccessStats } from '../shared/stats.js';
import { createOrderStore } from './data.js';
import { createOrdersContext } from './loaders.js';
import { ordersResolvers } from './resolvers.js';

export type { BatchStats, DataAccessStats, StartSubgraphOptions, SubgraphServer } from '../shared/server.js';

/** Starts the orders subgraph: GraphQL at /graphql and GET /health. State lives in this process. */
export async function startOrdersSubgraph(opts?: StartSubgraphOptions): Promise<SubgraphServer> {
  const stats = new DataAccessStats();
  const store = createOrderStore(stats);
  return startSubgraphServer(
    { name: 'orders', resolvers: ordersResolvers, stats, createContext: (request) => createOrdersContext(store, request) },
    opts,
  );
}

if (isMainModule(import.meta.url)) runSubgraphFromCommandLine(startOrdersSubgraph);
