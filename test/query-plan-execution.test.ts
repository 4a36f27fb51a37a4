import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { composeServices } from '@apollo/composition';
import { Supergraph, operationFromDocument } from '@apollo/federation-internals';
import { RemoteGraphQLDataSource, buildOperationContext, type ServiceMap } from '@apollo/gateway';
import { QueryPlanner, type QueryPlan } from '@apollo/query-planner';
import { buildSubgraphSchema } from '@apollo/subgraph';
import {
  GraphQLError,
  execute,
  getNamedType,
  isAbstractType,
  isEnumType,
  isListType,
  isNonNullType,
  isObjectType,
  parse,
  type GraphQLFieldResolver,
  type GraphQLOutputType,
  type GraphQLSchema,
  type GraphQLTypeResolver,
} from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apolloExecuteQueryPlan, installPlanExecution } from '../gateway/src/graphql/apollo-execution.js';
import { executeQueryPlan } from '../gateway/src/graphql/query-plan-execution.js';
import { signDevToken } from '../gateway/src/auth/dev-secret.js';
import { seededRandom } from './helpers/attack-corpus.js';
import { postGraphql } from './helpers/gateway.js';
import { useDemoStack } from './helpers/subgraphs.js';

// The gateway runs query plans with its own port of @apollo/gateway's executeQueryPlan
// (gateway/src/graphql/query-plan-execution.ts). The contract is "the same as Apollo's": these tests
// plan operations over a supergraph made for it (entities across four subgraphs, @requires, an
// @interfaceObject, unions, @include/@skip conditions), serve every fetch from real HTTP subgraphs
// whose answers are seeded (right, or broken in the ways subgraphs break), and run both executors on
// the same plans: the requests the subgraphs receive (in order, body for body), the data (key order
// included), the errors, the query plan traces and the log lines must be the same.

const require = createRequire(import.meta.url);
const { Trace } = require('@apollo/usage-reporting-protobuf') as {
  Trace: { encode(trace: object): { finish(): Uint8Array }; create(properties: object): object };
};

const LINK = (imports: string) => `extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: [${imports}])`;

const SUBGRAPHS: Record<string, string> = {
  users: `${LINK('"@key"')}
    type Query { users(first: Int): [User!]!  user(id: ID!): User  node(id: ID!): Node  search: [SearchResult!]! }
    interface Node @key(fields: "id") { id: ID! }
    type User implements Node @key(fields: "id") { id: ID! name: String! email: String age: Int tags: [String!] }
    type Admin implements Node @key(fields: "id") { id: ID! name: String! level: Int! }
    union SearchResult = User | Admin`,
  orders: `${LINK('"@key"')}
    type User @key(fields: "id") { id: ID! orders(limit: Int): [Order!]! totalSpent: Float }
    type Order @key(fields: "id") { id: ID! total: Float! status: Status! items: [LineItem!]! }
    type LineItem { quantity: Int! product: Product! }
    type Product @key(fields: "upc", resolvable: false) { upc: String! }
    enum Status { OPEN SHIPPED }`,
  products: `${LINK('"@key"')}
    type Product @key(fields: "upc") { upc: String! name: String price: Int! weight: Float }`,
  shipping: `${LINK('"@key", "@external", "@requires", "@interfaceObject"')}
    type Product @key(fields: "upc") { upc: String! weight: Float @external price: Int! @external estimate: Int @requires(fields: "weight price") }
    type Node @key(fields: "id") @interfaceObject { id: ID! reviewCount: Int }
    type Query { topNodes: [Node!]! }`,
};

const OPERATIONS: { name: string; query: string; variables?: Record<string, unknown> }[] = [
  {
    name: 'three levels of entities and a @requires',
    query: `{ users { id name orders { id total items { quantity product { upc name price estimate } } } } }`,
  },
  {
    name: 'aliases, arguments and parallel fetches',
    query: `query Q($n: Int) { a: users(first: $n) { id n: name orders(limit: 1) { id status } } b: user(id: "1") { email totalSpent orders { status total } } }`,
    variables: { n: 2 },
  },
  {
    name: '@include and @skip with variables (condition nodes)',
    query: `query C($with: Boolean!, $without: Boolean!) { users { id orders @include(if: $with) { id items { product { name } } } totalSpent @skip(if: $without) } }`,
    variables: { with: true, without: false },
  },
  {
    name: 'the same with the other branches',
    query: `query C($with: Boolean!, $without: Boolean!) { users { id orders @include(if: $with) { id items { product { name } } } totalSpent @skip(if: $without) } }`,
    variables: { with: false, without: true },
  },
  {
    name: 'an interface object and a union',
    query: `{ node(id: "7") { id reviewCount ... on User { name orders { id } } } search { __typename ... on User { name totalSpent } ... on Admin { level reviewCount } } }`,
  },
  {
    name: 'an interface object at the root (typename rewritten)',
    query: `{ topNodes { __typename id reviewCount ... on User { name email } ... on Admin { level } } }`,
  },
  {
    name: 'typename and introspection next to data',
    query: `{ __typename users { __typename id tags age orders { __typename id } } __schema { queryType { name } } __type(name: "Status") { enumValues { name } } }`,
  },
];

/** Ways a subgraph answer goes wrong; each seed picks at most one per request. */
const BREAKS = [
  'null-value',
  'drop-key',
  'object-as-list',
  'list-as-object',
  'entities-short',
  'entities-not-list',
  'entity-no-typename',
  'entity-null-with-error',
  'entity-string',
  'error-coded',
  'error-empty-message',
  'data-null',
  'http-500',
  'trace',
  'bad-trace',
] as const;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

interface Subgraph {
  name: string;
  schema: GraphQLSchema;
  server: Server;
  url: string;
}

/** What one executor run did: the subgraph requests in order, the result, the trace, log lines. */
interface Run {
  requests: string[];
  result: unknown;
  trace: unknown;
  logs: string[];
}

let seed = 0;
/** The requests the subgraphs received, by run (each run calls URLs of its own: `/run-N`). */
const received = new Map<string, string[]>();
let runs = 0;
const subgraphs: Subgraph[] = [];
let supergraph: Supergraph;
let planner: QueryPlanner;

function hash(text: string): number {
  return createHash('sha256').update(text).digest().readUInt32LE(0);
}

/** A seeded value for a field of type `type`; objects are `{}` for the next resolvers to fill. */
function generate(type: GraphQLOutputType, rng: () => number): unknown {
  if (isNonNullType(type)) return generate(type.ofType, rng);
  if (rng() < 0.08) return null;
  if (isListType(type)) return Array.from({ length: Math.floor(rng() * 4) }, () => generate(type.ofType, rng));
  const named = getNamedType(type);
  if (isObjectType(named) || isAbstractType(named)) return {};
  if (isEnumType(named)) return (named.getValues()[Math.floor(rng() * named.getValues().length)] as { value: unknown }).value;
  switch (named.name) {
    case 'Int':
      return Math.floor(rng() * 100);
    case 'Float':
      return Math.round(rng() * 10_000) / 100;
    case 'Boolean':
      return rng() < 0.5;
    case 'ID':
    case 'String':
      return `${named.name.toLowerCase()}-${Math.floor(rng() * 1000)}`;
    default:
      return null;
  }
}

function paths(value: Json, at: (string | number)[] = [], into: (string | number)[][] = []): (string | number)[][] {
  if (value && typeof value === 'object') {
    for (const [key, child] of Object.entries(value)) {
      const path = [...at, Array.isArray(value) ? Number(key) : key];
      into.push(path);
      paths(child, path, into);
    }
  }
  return into;
}

function parentAt(root: Json, path: (string | number)[]): Record<string | number, Json> {
  let value = root as Record<string | number, Json>;
  for (const key of path.slice(0, -1)) value = value[key] as Record<string | number, Json>;
  return value;
}

/** The subgraph's own answer to the request, then broken (or not) as the seed says. */
async function answer(subgraph: Subgraph, body: string): Promise<{ status: number; body: string }> {
  const rng = seededRandom(hash(`${seed}:${subgraph.name}:${body}`));
  const request = JSON.parse(body) as { query: string; variables?: Record<string, unknown> };
  const fieldResolver: GraphQLFieldResolver<Record<string, unknown>, unknown> = (source, _args, _context, info) =>
    Object.prototype.hasOwnProperty.call(source, info.fieldName) ? source[info.fieldName] : generate(info.returnType, rng);
  const typeResolver: GraphQLTypeResolver<Record<string, unknown>, unknown> = (value, _context, info, type) => {
    if (typeof value.__typename === 'string') return value.__typename;
    const possible = info.schema.getPossibleTypes(type);
    return (possible[Math.floor(rng() * possible.length)] as { name: string }).name;
  };
  const executed = await execute({
    schema: subgraph.schema,
    document: parse(request.query),
    variableValues: request.variables,
    rootValue: {},
    fieldResolver,
    typeResolver,
  });
  const result = JSON.parse(JSON.stringify(executed)) as { data?: Json; errors?: Json[]; extensions?: Record<string, Json> };
  const brk = rng() < 0.45 ? undefined : BREAKS[Math.floor(rng() * BREAKS.length)];
  const data = result.data as Record<string, Json> | null | undefined;
  const entities = data?._entities;
  const pick = <T>(items: T[]): T | undefined => items[Math.floor(rng() * items.length)];
  switch (brk) {
    case 'null-value':
    case 'drop-key': {
      const path = data ? pick(paths(data)) : undefined;
      if (!path || !data) break;
      const parent = parentAt(data, path);
      const key = path[path.length - 1] as string | number;
      if (brk === 'null-value') parent[key] = null;
      else if (!Array.isArray(parent)) delete parent[key];
      break;
    }
    case 'object-as-list':
    case 'list-as-object': {
      const wanted = (value: Json) =>
        brk === 'object-as-list' ? !!value && typeof value === 'object' && !Array.isArray(value) : Array.isArray(value);
      const path = data
        ? pick(paths(data).filter((p) => wanted(parentAt(data, p)[p[p.length - 1] as string | number] as Json)))
        : undefined;
      if (!path || !data) break;
      const parent = parentAt(data, path);
      const key = path[path.length - 1] as string | number;
      const value = parent[key] as Json;
      parent[key] = brk === 'object-as-list' ? [value] : ((value as Json[])[0] ?? null);
      break;
    }
    case 'entities-short':
      if (Array.isArray(entities) && entities.length) entities.pop();
      break;
    case 'entities-not-list':
      if (Array.isArray(entities) && data) data._entities = { 0: entities[0] ?? null };
      break;
    case 'entity-no-typename':
      if (Array.isArray(entities))
        for (const entity of entities) if (entity && typeof entity === 'object') delete (entity as Record<string, Json>).__typename;
      break;
    case 'entity-null-with-error':
      if (Array.isArray(entities) && entities.length) {
        const index = Math.floor(rng() * entities.length);
        entities[index] = null;
        result.errors = [{ message: 'entity failed', path: ['_entities', index, 'name'], extensions: { code: 'ENTITY_BROKE' } }];
      }
      break;
    case 'entity-string':
      if (Array.isArray(entities) && entities.length) entities[0] = 'not an entity';
      break;
    case 'error-coded':
      result.errors = [
        { message: 'bad input', path: data ? (pick(paths(data)) ?? null) : null, extensions: { code: 'BAD_USER_INPUT' } },
        { message: 'no code', locations: [{ line: 1, column: 2 }] },
      ];
      break;
    case 'error-empty-message':
      result.errors = [{ message: '', path: ['_entities', 0], extensions: { detail: 7 } }];
      break;
    case 'data-null':
      result.data = null;
      result.errors = [{ message: 'everything failed', extensions: { code: 'INTERNAL_SERVER_ERROR' } }];
      break;
    case 'http-500':
      return { status: 500, body: JSON.stringify({ errors: [{ message: 'upstream exploded' }] }) };
    case 'trace':
      result.extensions = {
        ftv1: Buffer.from(Trace.encode(Trace.create({ root: { child: [{ responseName: 'x' }] }, durationNs: 5 })).finish()).toString(
          'base64',
        ),
      };
      break;
    case 'bad-trace':
      result.extensions = { ftv1: 'bm90IGEgdHJhY2U=' };
      break;
  }
  return { status: 200, body: JSON.stringify(result) };
}

async function startSubgraph(name: string, sdl: string): Promise<Subgraph> {
  const schema = buildSubgraphSchema({ typeDefs: parse(sdl) });
  const subgraph = { name, schema } as Subgraph;
  subgraph.server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      const run = received.get(req.url ?? '') ?? [];
      received.set(req.url ?? '', run);
      run.push(`${name} ${req.headers['apollo-federation-include-trace'] ?? '-'} ${body}`);
      answer(subgraph, body).then(
        (reply) => res.writeHead(reply.status, { 'content-type': 'application/json' }).end(reply.body),
        (error: unknown) => res.writeHead(599).end(String(error)),
      );
    });
  });
  await new Promise<void>((resolve) => subgraph.server.listen(0, '127.0.0.1', resolve));
  subgraph.url = `http://127.0.0.1:${(subgraph.server.address() as AddressInfo).port}`;
  return subgraph;
}

function withoutTimes(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value ?? null), (key, inner: unknown) =>
    key === 'sentTime' || key === 'receivedTime' || key === 'sentTimeOffset' ? undefined : inner,
  ) as unknown;
}

/** The errors as JSON, each run's own subgraph path (in HTTP errors' response URL) left out. */
function describeErrors(errors: readonly unknown[] | undefined): unknown {
  const described = errors?.map((error) =>
    error instanceof GraphQLError ? { graphql: error.toJSON(), original: error.originalError?.message } : { thrown: String(error) },
  );
  return described && (JSON.parse(JSON.stringify(described).replace(/\/run-\d+/g, '/run-N')) as unknown);
}

type Executor = typeof executeQueryPlan;

async function run(
  executor: Executor,
  query: string,
  variables: Record<string, unknown> | undefined,
  captureTraces: boolean,
): Promise<Run> {
  const document = parse(query);
  const operation = operationFromDocument(supergraph.apiSchema(), document);
  const plan: QueryPlan = planner.buildQueryPlan(operation);
  const apiSchema = supergraph.apiSchema();
  const operationContext = buildOperationContext({ schema: apiSchema.toGraphQLJSSchema(), operationDocument: document });
  const logs: string[] = [];
  const log = (level: string) => (message: string) => logs.push(`${level} ${message}`);
  const path = `/run-${++runs}`;
  const serviceMap: ServiceMap = Object.fromEntries(
    subgraphs.map((s) => [s.name, new RemoteGraphQLDataSource({ url: `${s.url}${path}` })]),
  );
  const metrics: { captureTraces: boolean; startHrTime: [number, number]; queryPlanTrace?: unknown; nonFtv1ErrorPaths?: unknown } = {
    captureTraces,
    startHrTime: process.hrtime(),
  };
  const requestContext = {
    request: { query, variables },
    context: {},
    logger: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') },
    metrics,
    cache: undefined,
    overallCachePolicy: { restrict: () => undefined },
  } as unknown as Parameters<Executor>[2];
  let result: unknown;
  try {
    const out = await executor(plan, serviceMap, requestContext, operationContext, supergraph.schema.toGraphQLJSSchema(), apiSchema);
    result = {
      keys: Object.keys(out),
      data: JSON.stringify(out.data),
      errors: describeErrors(out.errors),
      extensions: JSON.stringify(out.extensions),
    };
  } catch (error) {
    result = { threw: String(error) };
  }
  const threw = 'threw' in (result as object);
  return {
    // Parallel fetches may reach the subgraphs in either order; sequenced ones carry what came before.
    // An executor that throws (Apollo's and the port alike) leaves the fetches it started in flight,
    // still on their way: what reached the subgraphs so far is not compared.
    requests: threw ? [] : [...(received.get(path) ?? [])].sort(),
    result,
    trace: { plan: withoutTimes(metrics.queryPlanTrace), nonFtv1ErrorPaths: metrics.nonFtv1ErrorPaths },
    logs,
  };
}

describe("query plan execution: the gateway's port against Apollo's executeQueryPlan", () => {
  let supergraphSchema: GraphQLSchema;

  beforeAll(async () => {
    for (const [name, sdl] of Object.entries(SUBGRAPHS)) subgraphs.push(await startSubgraph(name, sdl));
    const composed = composeServices(subgraphs.map((s) => ({ name: s.name, url: s.url, typeDefs: parse(SUBGRAPHS[s.name] as string) })));
    if (!composed.supergraphSdl) throw new Error(`composition failed: ${composed.errors?.map((e) => e.message).join('; ')}`);
    supergraph = Supergraph.build(composed.supergraphSdl);
    planner = new QueryPlanner(supergraph);
    supergraphSchema = supergraph.schema.toGraphQLJSSchema();
  });

  afterAll(async () => {
    await Promise.all(subgraphs.map((s) => new Promise((resolve) => s.server.close(resolve))));
  });

  it('the plans cover sequences, parallel fetches, flattened lists, requires, input rewrites and conditions', () => {
    const plans = OPERATIONS.map(({ query }) =>
      JSON.stringify(planner.buildQueryPlan(operationFromDocument(supergraph.apiSchema(), parse(query)))),
    );
    const all = plans.join('\n');
    for (const kind of ['"Sequence"', '"Parallel"', '"Flatten"', '"Condition"', '"requires"', '"inputRewrites"', '"@"']) {
      expect(all, kind).toContain(kind);
    }
    expect(supergraphSchema.getType('Product')).toBeDefined();
  });

  it('sends the same requests and returns the same results, errors, traces and logs on 7 operations x 60 seeds', async () => {
    const apollo = apolloExecuteQueryPlan();
    expect(apollo).not.toBe(executeQueryPlan);
    const outcomes = new Set<string>();
    for (const operation of OPERATIONS) {
      for (let s = 1; s <= 60; s++) {
        seed = s;
        const captureTraces = s % 3 === 0;
        const theirs = await run(apollo, operation.query, operation.variables, captureTraces);
        const ours = await run(executeQueryPlan, operation.query, operation.variables, captureTraces);
        expect(ours, `${operation.name}, seed ${s}`).toEqual(theirs);
        const result = theirs.result as { threw?: string; errors?: unknown[]; data?: string };
        outcomes.add(result.threw ? 'threw' : result.errors ? (result.data === 'null' ? 'errors, no data' : 'errors and data') : 'data');
        if (theirs.logs.length) outcomes.add('logged');
        if ((theirs.trace as { plan: unknown }).plan) outcomes.add('traced');
      }
    }
    // The seeds reach every kind of outcome, so the comparison above covers each.
    expect([...outcomes].sort()).toEqual(['data', 'errors and data', 'errors, no data', 'logged', 'threw', 'traced']);
  });
});

describe('query plan execution in the gateway', () => {
  const stack = useDemoStack();

  it("is the gateway's own once the gateway has started, and answers the demo's cross-subgraph query", async () => {
    expect(installPlanExecution(stack.gw.gateway.logger)).toBe('gateway');
    expect((require('@apollo/gateway/dist/executeQueryPlan.js') as { executeQueryPlan: unknown }).executeQueryPlan).toBe(executeQueryPlan);
    const token = await signDevToken({ sub: 'user-1' });
    const res = await postGraphql(
      stack.gw.graphqlUrl,
      { query: '{ user(id: "user-1") { id orders(first: 3) { edges { node { id items { product { upc name } } } } } } }' },
      { authorization: `Bearer ${token}` },
    );
    expect(res.status).toBe(200);
    expect(res.body.errors).toBeUndefined();
    const orders = (res.body.data as { user: { orders: { edges: { node: { items: { product: { name: unknown } }[] } }[] } } }).user.orders
      .edges;
    expect(orders.length).toBeGreaterThan(0);
    const names = orders.flatMap((order) => order.node.items.map((item) => item.product.name));
    expect(names.length).toBeGreaterThan(0);
    expect(names.every((name) => typeof name === 'string')).toBe(true);
  });
});
