import { isMainModule, runSubgraphFromCommandLine } from '../shared/main-module.js';
import { startSubgraphServer, type StartSubgraphOptions, type SubgraphServer } from '../shared/server.js';
import { DataAccessStats } from '../shared/stats.js';
import { createProductStore } from './data.js';
import { createProductsContext } from './loaders.js';
import { productsResolvers } from './resolvers.js';

export type { BatchStats, DataAccessStats, StartSubgraphOptions, SubgraphServer } from '../shared/server.js';

/** Starts the products subgraph: GraphQL at /graphql and GET /health. */
export async function startProductsSubgraph(opts?: StartSubgraphOptions): Promise<SubgraphServer> {
  const stats = new DataAccessStats();
  const store = createProductStore(stats);
  return startSubgraphServer(
    { name: 'products', resolvers: productsResolvers, stats, createContext: () => createProductsContext(store) },
    opts,
  );
}

if (isMainModule(import.meta.url)) runSubgraphFromCommandLine(startProductsSubgraph);
