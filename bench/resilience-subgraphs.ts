/**
 * The demo subgraphs served thin, for benchmarks: `node:http` + graphql-js `execute` over the same
 * `@apollo/subgraph` schema and resolvers (DESIGN: served by @apollo/server they would take most of
 * a core and starve the gateway being measured). Every call is executed (no response cache), so the
 * subgraph call count is real. Run as a child process by bench/resilience.ts: prints one JSON line
 * `{"users": url, ...}` when listening; `GET /stats` answers the request count.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/index.js';
import type { FastifyRequest } from 'fastify';
import { execute, parse, type DocumentNode } from 'graphql';
import { createOrderStore } from '../subgraphs/orders/data.js';
import { createOrdersContext } from '../subgraphs/orders/loaders.js';
import { ordersResolvers } from '../subgraphs/orders/resolvers.js';
import { createProductStore } from '../subgraphs/products/data.js';
import { createProductsContext } from '../subgraphs/products/loaders.js';
import { productsResolvers } from '../subgraphs/products/resolvers.js';
import { subgraphSchemaPath } from '../subgraphs/shared/paths.js';
import { DataAccessStats } from '../subgraphs/shared/stats.js';
import type { SubgraphName } from '../subgraphs/shared/subgraph-names.js';
import { createUserStore } from '../subgraphs/users/data.js';
import { createUsersContext } from '../subgraphs/users/loaders.js';
import { usersResolvers } from '../subgraphs/users/resolvers.js';

interface Thin<TContext> {
  name: SubgraphName;
  resolvers: GraphQLResolverMap<TContext>;
  context(request: IncomingMessage): TContext;
}

async function serve<TContext>(thin: Thin<TContext>): Promise<string> {
  const schema = buildSubgraphSchema([
    { typeDefs: parse(readFileSync(subgraphSchemaPath(thin.name), 'utf8')), resolvers: thin.resolvers as GraphQLResolverMap<unknown> },
  ]);
  const documents = new Map<string, DocumentNode>();
  let served = 0;
  const server = createServer((request, response) => {
    if (request.method === 'GET' && request.url === '/stats') {
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ requests: served }));
      return;
    }
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', async () => {
      served++;
      try {
        const { query, variables, operationName } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
          query: string;
          variables?: Record<string, unknown>;
          operationName?: string;
        };
        let document = documents.get(query);
        if (!document) documents.set(query, (document = parse(query)));
        const result = await execute({ schema, document, variableValues: variables, operationName, contextValue: thin.context(request) });
        response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(result));
      } catch (error) {
        response.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ message: String(error) }] }));
      }
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
}

const stats = new DataAccessStats();
const users = createUserStore(stats);
const orders = createOrderStore(stats);
const products = createProductStore(stats);
const urls = {
  users: await serve({
    name: 'users',
    resolvers: usersResolvers,
    context: (r) => createUsersContext(users, r as unknown as FastifyRequest),
  }),
  // The caller's scopes (x-user-scopes) decide whose orders it may read, as in the real subgraph.
  orders: await serve({
    name: 'orders',
    resolvers: ordersResolvers,
    context: (r) => createOrdersContext(orders, r as unknown as FastifyRequest),
  }),
  products: await serve({ name: 'products', resolvers: productsResolvers, context: () => createProductsContext(products) }),
};
console.log(JSON.stringify(urls));
process.on('SIGTERM', () => process.exit(0));
