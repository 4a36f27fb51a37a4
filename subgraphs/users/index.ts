import { isMainModule, runSubgraphFromCommandLine } from '../shared/main-module.js';
import { startSubgraphServer, type StartSubgraphOptions, type SubgraphServer } from '../shared/server.js';
import { DataAccessStats } from '../shared/stats.js';
import { createUserStore } from './data.js';
import { createUsersContext } from './loaders.js';
import { usersResolvers } from './resolvers.js';
import { registerLegacyUserRoutes } from './rest.js';

export type { BatchStats, DataAccessStats, StartSubgraphOptions, SubgraphServer } from '../shared/server.js';

/** Starts the users subgraph: GraphQL at /graphql, GET /health, legacy REST under /api/v1/users. */
export async function startUsersSubgraph(opts?: StartSubgraphOptions): Promise<SubgraphServer> {
  const stats = new DataAccessStats();
  const store = createUserStore(stats);
  return startSubgraphServer(
    {
      name: 'users',
      resolvers: usersResolvers,
      stats,
      createContext: (request) => createUsersContext(store, request),
      registerRoutes: (app) => registerLegacyUserRoutes(app, store),
    },
    opts,
  );
}

if (isMainModule(import.meta.url)) runSubgraphFromCommandLine(startUsersSubgraph);
