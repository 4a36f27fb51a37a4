import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/index.js';
import type { FastifyRequest } from 'fastify';
import { execute, parse, validate, type DocumentNode, type GraphQLSchema } from 'graphql';
import { createOrderStore } from '../subgraphs/orders/data.js';
import { READ_ALL_ORDERS_SCOPE, createOrdersContext } from '../subgraphs/orders/loaders.js';
import { ordersResolvers } from '../subgraphs/orders/resolvers.js';
import { createProductStore } from '../subgraphs/products/data.js';
import { createProductsContext } from '../subgraphs/products/loaders.js';
import { productsResolvers } from '../subgraphs/products/resolvers.js';
import { isMainModule } from '../subgraphs/shared/main-module.js';
import { subgraphSchemaPath } from '../subgraphs/shared/paths.js';
import { DataAccessStats } from '../subgraphs/shared/stats.js';
import type { SubgraphName } from '../subgraphs/shared/subgraph-names.js';
import { createUserStore } from '../subgraphs/users/data.js';
import { createUsersContext } from '../subgraphs/users/loaders.js';
import { usersResolvers } from '../subgraphs/users/resolvers.js';

/**
 * The demo subgraphs' schemas, resolvers and data behind a thin `node:http` + graphql-js `execute`
 * layer (DESIGN: served by Apollo Server they take most of a core at a few hundred rps and would
 * starve the gateway being measured). On 2 cores the subgraphs and the load generator share one
 * core while the gateway takes the other, so the subgraphs must cost far less than the gateway or
 * every gateway measures the same ceiling: each answer is computed once (a real `execute`) and then
 * served from a response cache keyed by operation, variables and the caller's `x-user-id`. Every
 * gateway faces the same subgraphs.
 *
 * That replay mode shifts load away from the subgraphs. `BENCH_SUBGRAPHS=compute` (the default of
 * `npm run bench`) executes every request instead, and every resolver builds its objects afresh and
 * does a small deterministic computation per object (a checksum over its fields, as decoding a
 * row would cost), without changing the answer.
 */
const COMPUTE = process.env.BENCH_SUBGRAPHS === 'compute';
/** Checksum rounds per resolved object in compute mode. */
const WORK_ROUNDS = 8;
const MAX_CACHED_RESPONSES = 30_000;
const BENCH_VIEWER = { headers: { 'x-user-id': 'bench', 'x-user-scopes': `${READ_ALL_ORDERS_SCOPE}` } } as unknown as FastifyRequest;

interface ThinDefinition {
  name: SubgraphName;
  /** Legacy REST answers (`GET` path → JSON), as the demo users service serves them. */
  rest?: (path: string) => Promise<unknown>;
  resolvers: GraphQLResolverMap<unknown>;
  createContext(request: FastifyRequest): unknown;
}

function definitions(): ThinDefinition[] {
  const stats = new DataAccessStats();
  const users = createUserStore(stats);
  const LEGACY_USER = /^\/api\/v1\/users\/([^/?]+)(\?.*)?$/;
  const orders = createOrderStore(stats);
  const products = createProductStore(stats);
  return [
    {
      name: 'users',
      resolvers: usersResolvers as GraphQLResolverMap<unknown>,
      createContext: (r) => createUsersContext(users, r),
      rest: async (path) => {
        const id = LEGACY_USER.exec(path)?.[1];
        return id ? ((await users.findUsersByIds([id]))[0] ?? undefined) : undefined;
      },
    },
    // Every gateway must get the same answer, but only ours forwards identity: the benchmark's
    // orders subgraph lets every caller read every user's orders.
    {
      name: 'orders',
      resolvers: ordersResolvers as GraphQLResolverMap<unknown>,
      createContext: () => createOrdersContext(orders, BENCH_VIEWER),
    },
    { name: 'products', resolvers: productsResolvers as GraphQLResolverMap<unknown>, createContext: () => createProductsContext(products) },
  ];
}

let checksum = 0;

/** Builds a fresh copy of a resolved value, checksumming every string and number it holds. */
function rebuild(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(rebuild);
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'string' || typeof value === 'number') {
      const text = String(value);
      for (let round = 0; round < WORK_ROUNDS; round++) {
        for (let k = 0; k < text.length; k++) checksum = Math.imul(checksum ^ text.charCodeAt(k), 16_777_619) >>> 0;
      }
    }
    return value;
  }
  const copy: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) copy[key] = rebuild(field);
  return copy;
}

type Resolver = (...args: unknown[]) => unknown;

/** Every field resolver and `__resolveReference` of the map, returning a rebuilt copy of its result. */
function computing(resolvers: GraphQLResolverMap<unknown>): GraphQLResolverMap<unknown> {
  const wrapped: Record<string, Record<string, unknown>> = {};
  for (const [typeName, fields] of Object.entries(resolvers as Record<string, Record<string, unknown>>)) {
    wrapped[typeName] = {};
    for (const [fieldName, resolver] of Object.entries(fields)) {
      const wrap = typeof resolver === 'function' && (!fieldName.startsWith('__') || fieldName === '__resolveReference');
      wrapped[typeName][fieldName] = wrap
        ? (...args: unknown[]) => {
            const result = (resolver as Resolver)(...args);
            return result instanceof Promise ? result.then(rebuild) : rebuild(result);
          }
        : resolver;
    }
  }
  return wrapped as GraphQLResolverMap<unknown>;
}

function serveThin(definition: ThinDefinition): Promise<{ name: SubgraphName; url: string; server: Server }> {
  const schema: GraphQLSchema = buildSubgraphSchema([
    {
      typeDefs: parse(readFileSync(subgraphSchemaPath(definition.name), 'utf8')),
      resolvers: COMPUTE ? computing(definition.resolvers) : definition.resolvers,
    },
  ]);
  const documents = new Map<string, DocumentNode>();
  const responses = new Map<string, string>();
  const server = createServer(async (req, res) => {
    try {
      if (req.method === 'GET' && definition.rest) {
        const answer = await definition.rest(req.url ?? '');
        const payload = answer === undefined ? JSON.stringify({ error: 'NOT_FOUND' }) : JSON.stringify(answer);
        res.writeHead(answer === undefined ? 404 : 200, {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(payload),
        });
        res.end(payload);
        return;
      }
      const raw = await readBody(req);
      const cacheKey = `${String(req.headers['x-user-id'] ?? '')}\n${raw}`;
      const cached = COMPUTE ? undefined : responses.get(cacheKey);
      if (cached !== undefined) {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(cached) });
        res.end(cached);
        return;
      }
      const body = JSON.parse(raw) as { query: string; variables?: Record<string, unknown>; operationName?: string };
      let document = documents.get(body.query);
      if (!document) {
        document = parse(body.query);
        const errors = validate(schema, document);
        if (errors.length) throw new Error(errors.map((e) => e.message).join('; '));
        if (documents.size < 1_000) documents.set(body.query, document);
      }
      const result = await execute({
        schema,
        document,
        variableValues: body.variables,
        operationName: body.operationName,
        contextValue: definition.createContext({ headers: req.headers } as FastifyRequest),
      });
      const payload = JSON.stringify(result);
      if (!COMPUTE && responses.size < MAX_CACHED_RESPONSES) responses.set(cacheKey, payload);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
      res.end(payload);
    } catch (error) {
      const payload = JSON.stringify({ errors: [{ message: (error as Error).message }] });
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(payload);
    }
  });
  server.keepAliveTimeout = 60_000;
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({ name: definition.name, url: `http://127.0.0.1:${port}/graphql`, server });
    }),
  );
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startThinSubgraphs(): Promise<{ urls: Record<SubgraphName, string>; close(): Promise<void> }> {
  const started = await Promise.all(definitions().map(serveThin));
  const urls = Object.fromEntries(started.map((s) => [s.name, s.url])) as Record<SubgraphName, string>;
  return {
    urls,
    close: async () => {
      await Promise.all(
        started.map(
          (s) =>
            new Promise<void>((resolve) => {
              s.server.closeAllConnections();
              s.server.close(() => resolve());
            }),
        ),
      );
    },
  };
}

// Run as its own process by the bench, so its CPU is not the load generator's or the gateway's.
if (isMainModule(import.meta.url)) {
  const { urls } = await startThinSubgraphs();
  process.stdout.write(`${JSON.stringify({ ready: true, urls, mode: COMPUTE ? 'compute' : 'replay' })}\n`);
  process.on('SIGTERM', () => process.exit(0));
}
