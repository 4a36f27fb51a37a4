import { createRequire } from 'node:module';
import {
  buildSchema,
  isCompositeType,
  isEnumType,
  isListType,
  isNonNullType,
  parseOperation,
  possibleRuntimeTypes,
  type CompositeType,
  type FieldSelection,
  type Operation,
  type SelectionSet,
  type Type,
} from '@apollo/federation-internals';
import { describe, expect, it } from 'vitest';
import { apolloComputeResponse, installPlanExecution } from '../gateway/src/graphql/apollo-execution.js';
import { computeResponse, type ComputeResponseInput } from '../gateway/src/graphql/result-shaping.js';
import { seededRandom } from './helpers/attack-corpus.js';
import { postGraphql } from './helpers/gateway.js';
import { useDemoStack } from './helpers/subgraphs.js';

// The gateway shapes every response with its own port of @apollo/gateway's computeResponse
// (gateway/src/graphql/result-shaping.ts). The contract is "the same as Apollo's": these tests run
// both on the same operations and subgraph data, and compare data (key order included), errors and
// thrown assertions.

const SDL = /* GraphQL */ `
  scalar JSON
  enum Color {
    RED
    GREEN
  }
  interface Node {
    id: ID!
  }
  type User implements Node {
    id: ID!
    name: String
    age: Int
    score: Float
    active: Boolean!
    color: Color
    tags: [String!]
    friends: [User]
    best: User!
    meta: JSON
    matrix: [[Int!]]!
  }
  type Product implements Node {
    id: ID!
    title: String!
    price: Float
  }
  union Item = User | Product
  type Query {
    node: Node
    nodes: [Node!]
    items: [Item]!
    user: User
    users: [User!]!
    count: Int!
  }
`;

const schema = buildSchema(SDL);

const QUERIES: { name: string; text: string; variables?: Record<string, unknown> }[] = [
  {
    name: 'skip, include, aliases and __typename',
    text: `query Q($yes: Boolean!, $no: Boolean = false) {
      user { id name @skip(if: $yes) age @include(if: $yes) score @include(if: $no) ... on User { id name best { id } }
             alias: name __typename kind: __typename active color tags meta }
      count
    }`,
    variables: { yes: true },
  },
  {
    name: 'interfaces and unions',
    text: `{
      node { __typename id ... on User { name friends { id name } } ... on Product { title } }
      nodes { id ... on Product { price } ... on Node { __typename } }
      items { ... on User { id color best { age } } ... on Product { id title } t: __typename }
    }`,
  },
  {
    name: 'response names that are Object.prototype names',
    text: `{ __proto__: user { constructor: name hasOwnProperty: id toString: age } users { id active matrix tags meta } }`,
  },
  {
    name: 'one field selected twice with different sub-selections',
    text: `{ user { best { id } ... on User { best { name friends { id } } friends { name age } } friends { id } id } count }`,
  },
  {
    name: 'named fragments',
    text: `query { users { ...F } node { ...G } } fragment F on User { id ...G best { ...G } } fragment G on Node { id __typename }`,
  },
  {
    name: 'introspection next to data',
    text: `{ __typename count __schema { queryType { name } } t: __type(name: "User") { name } ... on Query { __schema { types { name } } } }`,
  },
];

interface Outcome {
  data?: string;
  errors?: { message: string; path: unknown; code: unknown }[];
  thrown?: string;
}

const introspectionHandling = (selection: FieldSelection) => ({ introspected: selection.toString() });

function outcome(shape: typeof computeResponse, args: ComputeResponseInput): Outcome {
  try {
    const { data, errors } = shape(args);
    return {
      data: JSON.stringify(data),
      errors: errors.map((e) => ({ message: e.message, path: e.path, code: e.extensions.code })),
    };
  } catch (error) {
    return { thrown: (error as Error).message };
  }
}

/** Subgraph data for an operation: mostly right, sometimes null, missing, of the wrong type or with a bad __typename. */
function subgraphData(rng: () => number, operation: Operation): Record<string, unknown> {
  const pick = <T>(values: readonly T[]): T => values[Math.floor(rng() * values.length)] as T;
  const leaf = (type: Type): unknown => {
    if (rng() < 0.12) return pick(['text', 1.5, 1e21, -0, 2 ** 31, true, { nested: 1 }, 'PURPLE', 12, 'RED', '']);
    const name = (type as { name: string }).name;
    if (isEnumType(type)) return pick(['RED', 'GREEN']);
    if (name === 'Int') return pick([0, 7, -3, 2 ** 40]);
    if (name === 'Float') return pick([1.25, 3, -0.5]);
    if (name === 'Boolean') return rng() < 0.5;
    if (name === 'JSON') return pick([{ a: [1, 2] }, 'x', 4, null]);
    return pick(['a', 'b-1', '42']);
  };
  const value = (type: Type, selectionSet: SelectionSet | undefined): unknown => {
    if (isNonNullType(type)) return rng() < 0.08 ? null : value(type.ofType, selectionSet);
    if (rng() < 0.05) return null;
    if (isListType(type)) {
      if (rng() < 0.02) return 'not a list';
      return Array.from({ length: Math.floor(rng() * 4) }, () => value(type.ofType, selectionSet));
    }
    if (isCompositeType(type)) return rng() < 0.02 ? 5 : object(type, selectionSet as SelectionSet);
    return leaf(type);
  };
  const object = (type: CompositeType, selectionSet: SelectionSet): Record<string, unknown> => {
    const runtime = pick(possibleRuntimeTypes(type));
    const result: Record<string, unknown> = {};
    const roll = rng();
    if (roll < 0.6) result.__typename = runtime.name;
    else if (roll < 0.65) result.__typename = pick(['Nope', 'Color', 'Int', 'Node', 7]);
    const fill = (set: SelectionSet) => {
      for (const selection of set.selections()) {
        if (selection.kind === 'FieldSelection') {
          const field = selection.element;
          if (field.definition.isSchemaIntrospectionField() || rng() < 0.08) continue;
          if (field.name === '__typename') {
            if (rng() < 0.5) result[field.responseName()] = pick([runtime.name, 'Nope', null]);
            continue;
          }
          const fieldType = runtime.field(field.name)?.type ?? field.definition.type;
          result[field.responseName()] = value(fieldType as Type, selection.selectionSet);
        } else {
          const condition = selection.element.typeCondition;
          if (!condition || possibleRuntimeTypes(condition).includes(runtime) || rng() < 0.15) fill(selection.selectionSet);
        }
      }
    };
    fill(selectionSet);
    return result;
  };
  return object(schema.schemaDefinition.rootType('query') as CompositeType, operation.selectionSet);
}

describe("the gateway's result shaping, against @apollo/gateway's", () => {
  const apollo = apolloComputeResponse();

  it('is not Apollo’s function (the comparison below would compare a function with itself)', () => {
    expect(apollo).not.toBe(computeResponse);
  });

  for (const query of QUERIES) {
    it(`gives Apollo's data, errors and assertion failures on 300 generated answers: ${query.name}`, () => {
      const operation = parseOperation(schema, query.text);
      const rng = seededRandom(0x5eed + query.name.length);
      const kinds = { ok: 0, errors: 0, thrown: 0 };
      for (let i = 0; i < 300; i++) {
        const args = { operation, variables: query.variables, input: subgraphData(rng, operation), introspectionHandling };
        const ours = outcome(computeResponse, args);
        expect(ours, JSON.stringify(args.input)).toEqual(outcome(apollo, args));
        kinds[ours.thrown !== undefined ? 'thrown' : ours.errors?.length ? 'errors' : 'ok'] += 1;
      }
      // The generator reaches every kind of outcome, so the comparison covers each path.
      expect(kinds.ok).toBeGreaterThan(10);
      expect(kinds.errors).toBeGreaterThan(10);
      if (query.name !== 'introspection next to data') expect(kinds.thrown).toBeGreaterThan(0);
    });
  }

  it('keeps the selection order, drops unselected fields and bubbles a null to the nearest nullable field', () => {
    const operation = parseOperation(schema, '{ user { best { id active } name } count }');
    const input = { count: 3, extra: 1, user: { name: 'n', id: 'x', best: { active: null, id: 'b', age: 4 } } };
    const result = computeResponse({ operation, input, introspectionHandling });
    expect(JSON.stringify(result.data)).toBe('{"user":null,"count":3}');
    expect(result.errors.map((e) => [e.message, e.path])).toEqual([
      ['Cannot return null for non-nullable field User.active.', ['user', 'best', 'active']],
    ]);
    expect(outcome(apollo, { operation, input, introspectionHandling })).toEqual(
      outcome(computeResponse, { operation, input, introspectionHandling }),
    );
  });

  it('answers objects that no response name can reach Object.prototype through', () => {
    const operation = parseOperation(schema, '{ __proto__: user { constructor: name toString: age } }');
    // A computed key makes an own property named __proto__, as JSON.parse does.
    const input = { ['__proto__']: { constructor: 'c', toString: 3 } };
    const { data } = computeResponse({ operation, input, introspectionHandling });
    const user = Object.getOwnPropertyDescriptor(data, '__proto__')?.value as Record<string, unknown>;
    expect(user).toBeDefined();
    expect(Object.keys(user)).toEqual(['constructor', 'toString']);
    expect(JSON.stringify(data)).toBe('{"__proto__":{"constructor":"c","toString":3}}');
    for (const object of [data, user]) {
      expect('hasOwnProperty' in (object as object)).toBe(false);
      expect(Object.getPrototypeOf(Object.getPrototypeOf(object))).toBeNull();
    }
  });
});

describe('the gateway serving the demo supergraph', () => {
  const stack = useDemoStack({ resilience: { subgraphDefaults: { fallback: { cache: false } } } });

  it("shapes responses with the gateway's computeResponse in Apollo's executor", async () => {
    const require = createRequire(import.meta.url);
    expect(installPlanExecution(stack.gw.gateway.logger)).toBe('gateway');
    expect((require('@apollo/gateway/dist/resultShaping.js') as { computeResponse: unknown }).computeResponse).toBe(computeResponse);
    const response = await fetch(stack.gw.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ __proto__: topProducts(first: 2) { constructor: upc ... on Product { upc name } } }' }),
    });
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(text).toMatch(/^\{"data":\{"__proto__":\[\{"constructor":"[^"]+","upc":"[^"]+","name":"[^"]+"\},\{/);
    const plain = await postGraphql(stack.gw.graphqlUrl, { query: '{ topProducts(first: 2) { upc name } }' });
    expect(plain.body.errors).toBeUndefined();
    expect((plain.body.data?.topProducts as unknown[]).length).toBe(2);
  });
});
