import { readFileSync } from 'node:fs';
import { buildASTSchema, parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { estimateCost } from '../gateway/src/cost/estimate.js';
import { costModelFromSdl } from '../gateway/src/cost/model.js';
import { linkedDirectiveName } from '../gateway/src/supergraph/links.js';
import { costTestSchema } from './helpers/cost-schema.js';

/**
 * The static estimator against operations whose cost is computed by hand (each case says how).
 * The default list size is 10 throughout.
 */
const { schema, model } = costTestSchema();

function estimate(query: string, variables?: Record<string, unknown>, operationName?: string) {
  return estimateCost(schema, model, parse(query), { variables, operationName, defaultListSize: 10 });
}

const INPUT = { title: 't', tags: [{ name: 'a' }, { name: 'b' }], price: 5 };

const TABLE: { name: string; query: string; variables?: Record<string, unknown>; cost: number; why: string }[] = [
  { name: 'object field', query: '{ book(id: 1) { title } }', cost: 1, why: 'Book 1 + title 0' },
  { name: 'scalar field with @cost', query: '{ expensive }', cost: 7, why: '@cost(weight: 7)' },
  { name: 'list of scalars', query: '{ tags }', cost: 0, why: '10 × String 0' },
  { name: 'slicing argument (literal)', query: '{ books(first: 3) { title pages } }', cost: 18, why: '3 × (Book 1 + pages 5)' },
  {
    name: 'slicing argument (variable)',
    query: 'query($n: Int) { books(first: $n) { pages } }',
    variables: { n: 4 },
    cost: 24,
    why: '4 × (1 + 5)',
  },
  {
    name: 'slicing argument absent: default list size',
    query: 'query($n: Int) { books(first: $n) { pages } }',
    cost: 60,
    why: '10 × (1 + 5)',
  },
  { name: 'largest of several slicing arguments', query: '{ books(first: 2, last: 6) { title } }', cost: 6, why: '6 × 1' },
  {
    name: 'sized fields of a connection',
    query: '{ authors(first: 20) { edges { node { name } } total } }',
    cost: 81,
    why: 'authors 1 + edges 20 × (AuthorEdge 1 + node: Author @cost 3)',
  },
  { name: 'slicing argument default value', query: '{ authors { edges { node { name } } } }', cost: 21, why: '1 + 5 × (1 + 3)' },
  { name: 'assumedSize', query: '{ shelf { books { title } } }', cost: 5, why: 'Shelf 1 + 4 × Book 1' },
  { name: 'nested list counts once', query: '{ shelf { nested { title } } }', cost: 11, why: 'Shelf 1 + 10 × Book 1' },
  {
    name: '@cost on scalar, enum and object types',
    query: '{ book(id: 1) { price color author { name } } }',
    cost: 9,
    why: 'Book 1 + Money 3 + Color 2 + Author 3',
  },
  {
    name: 'argument @cost, union with only __typename',
    query: '{ search(term: "x") { __typename } }',
    cost: 7,
    why: '3 × SearchResult 1 + term 4',
  },
  {
    name: 'union: the most expensive member counts',
    query: '{ search(term: "x") { ... on Book { pages } ... on Author { name } } }',
    cost: 22,
    why: '3 × (1 + max(Book: pages 5, Author: 0)) + 4',
  },
  {
    name: 'interface: fields on the interface plus the most expensive implementation',
    query: '{ media { title ... on Book { pages author { name } } ... on Movie { minutes cast { name } } } }',
    cost: 61,
    why: 'Media 1 + max(Book: 5 + 3, Movie: 20 × Author 3)',
  },
  {
    name: 'named fragments count as written',
    query: 'query { book(id: 1) { ...A ...B } } fragment A on Book { pages } fragment B on Book { pages title }',
    cost: 11,
    why: 'Book 1 + pages 5 + pages 5',
  },
  {
    name: '@skip with a true variable, @include with a false one',
    query: 'query($s: Boolean!, $i: Boolean!) { book(id: 1) { pages @skip(if: $s) title } expensive @include(if: $i) }',
    variables: { s: true, i: false },
    cost: 1,
    why: 'Book 1; pages and expensive left out',
  },
  {
    name: '@skip false, @include true',
    query: 'query($s: Boolean!, $i: Boolean!) { book(id: 1) { pages @skip(if: $s) title } expensive @include(if: $i) }',
    variables: { s: false, i: true },
    cost: 13,
    why: '(1 + 5) + 7',
  },
  { name: 'literal @skip on a fragment', query: '{ book(id: 1) { ... on Book @skip(if: true) { pages } title } }', cost: 1, why: 'Book 1' },
  {
    name: 'mutation with an input object literal',
    query: 'mutation { addBook(input: { title: "t", tags: [{name: "a"}, {name: "b"}], price: 5 }) { id } }',
    cost: 21,
    why: '10 + Book 1 + input (1 + tags 2 × (1 + name 2) + price 3)',
  },
  {
    name: 'mutation with the input in a variable',
    query: 'mutation($input: BookInput!) { addBook(input: $input) { id } }',
    variables: { input: INPUT },
    cost: 21,
    why: 'same as the literal',
  },
  {
    name: 'aliases count each field',
    query: '{ a: book(id: 1) { author { name } } b: book(id: 2) { title } expensive }',
    cost: 12,
    why: '(1 + 3) + 1 + 7',
  },
  { name: '__typename and introspection root fields', query: '{ __typename }', cost: 0, why: 'free' },
];

describe('static cost estimate: the table', () => {
  for (const { name, query, variables, cost, why } of TABLE) {
    it(`${name}: ${cost} (${why})`, () => {
      const result = estimate(query, variables);
      expect(result.cost).toBe(cost);
      expect(result.violations).toEqual([]);
    });
  }
});

describe('static cost estimate: explain, limits and shape', () => {
  it('explains the cost field by field, with paths and coordinates', () => {
    const result = estimate('{ authors(first: 20) { edges { node { name } } } }');
    expect(
      result.fields.map(({ path, coordinate, count, weight, childrenCost, total }) => ({
        path,
        coordinate,
        count,
        weight,
        childrenCost,
        total,
      })),
    ).toEqual([
      { path: 'authors', coordinate: 'Query.authors', count: 1, weight: 1, childrenCost: 80, total: 81 },
      { path: 'authors.edges', coordinate: 'AuthorConnection.edges', count: 20, weight: 1, childrenCost: 3, total: 80 },
      { path: 'authors.edges.node', coordinate: 'AuthorEdge.node', count: 1, weight: 3, childrenCost: 0, total: 3 },
      { path: 'authors.edges.node.name', coordinate: 'Author.name', count: 1, weight: 0, childrenCost: 0, total: 0 },
    ]);
  });

  it('explains the member of an abstract type that counted', () => {
    const result = estimate('{ media { ... on Book { pages } ... on Movie { cast { name } } } }');
    expect(result.fields.map((f) => f.coordinate)).toEqual(['Query.media', 'Movie.cast', 'Author.name']);
  });

  it('reports a slicing argument over its configured limit (literal and variable)', () => {
    expect(estimate('{ books(first: 101) { title } }').violations).toEqual([
      { code: 'LIST_SIZE_TOO_LARGE', path: 'books', argument: 'first', value: 101, max: 100 },
    ]);
    expect(estimate('query($n: Int) { books(first: $n) { title } }', { n: 5_000 }).violations[0]).toMatchObject({
      code: 'LIST_SIZE_TOO_LARGE',
      value: 5_000,
    });
    expect(estimate('{ books(first: 100) { title } }').violations).toEqual([]);
  });

  it("applies an operation's variable defaults, as execution does (a default cannot slip past a limit)", () => {
    const defaulted = 'query($n: Int = 5000) { books(first: $n) { title } }';
    expect(estimate(defaulted).violations[0]).toMatchObject({ code: 'LIST_SIZE_TOO_LARGE', value: 5_000 });
    // A value sent replaces the default.
    expect(estimate(defaulted, { n: 3 }).violations).toEqual([]);
    expect(estimate('query($n: Int = 7) { books(first: $n) { title } }').cost).toBe(estimate('{ books(first: 7) { title } }').cost);
    // A variable named __proto__ is a variable like any other, not the variables' prototype.
    const proto = estimate(
      'query($__proto__: Int = 5000, $n: Int) { a: books(first: $__proto__) { title } b: books(first: $n) { title } }',
    );
    expect(proto.violations).toEqual([expect.objectContaining({ code: 'LIST_SIZE_TOO_LARGE', path: 'a', value: 5_000 })]);
  });

  it('requires exactly one slicing argument where the directive says so', () => {
    expect(estimate('{ strict(first: 1, last: 2) { title } }').violations).toEqual([
      { code: 'SLICING_ARGUMENT_REQUIRED', path: 'strict', found: 2, arguments: ['first', 'last'] },
    ]);
    expect(estimate('{ strict { title } }').violations[0]).toMatchObject({ code: 'SLICING_ARGUMENT_REQUIRED', found: 0 });
    expect(estimate('{ strict(last: 2) { title } }').violations).toEqual([]);
  });

  it('measures depth, aliases and root fields, fragments expanded', () => {
    const result = estimate('query { a: book(id: 1) { ...F } b: book(id: 2) { title } expensive } fragment F on Book { author { name } }');
    expect({ depth: result.depth, aliases: result.aliases, rootFields: result.rootFields }).toEqual({
      depth: 3,
      aliases: 2,
      rootFields: 3,
    });
  });

  it('picks the named operation of a document with several', () => {
    const query = 'query Cheap { tags } query Dear { expensive }';
    expect(estimate(query, undefined, 'Dear').cost).toBe(7);
    expect(() => estimate(query)).toThrow(/ambiguous/);
  });
});

describe('static cost estimate on the demo supergraph', () => {
  const sdl = readFileSync(new URL('../schema/supergraph.graphql', import.meta.url), 'utf8');
  const document = parse(sdl);

  it('reads @cost and @listSize under the names the supergraph links them as', () => {
    expect(linkedDirectiveName(document, 'https://specs.apollo.dev/cost', 'cost')).toBe('cost');
    expect(linkedDirectiveName(document, 'https://specs.apollo.dev/cost', 'listSize')).toBe('listSize');
    const demo = costModelFromSdl(document);
    expect(demo.weights.get('Product.inStock')).toBe(2);
    expect(demo.listSizes.get('Query.users')).toEqual({
      assumedSize: undefined,
      slicingArguments: ['first'],
      sizedFields: ['edges'],
      requireOneSlicingArgument: true,
    });
    expect(demo.listSizes.get('Order.items')?.assumedSize).toBe(5);
  });

  it('costs users → orders → products as computed by hand', () => {
    // product 1 × (Product 1 + inStock 2) = 3; LineItem 1 + 3 = 4; items 5 × 4 = 20; Order 1 + 20 = 21;
    // OrderEdge 1 + 21 = 22; edges 5 × 22 = 110; orders 1 + 110 = 111; User 1 + 111 = 112;
    // UserEdge 1 + 112 = 113; edges 20 × 113 = 2260; users 1 + 2260 = 2261.
    const apiSchema = buildASTSchema(document, { assumeValidSDL: true });
    const result = estimateCost(
      apiSchema,
      costModelFromSdl(document),
      parse(
        '{ users(first: 20) { edges { node { id orders(first: 5) { edges { node { items { quantity product { inStock } } } } } } } } }',
      ),
      { defaultListSize: 10 },
    );
    expect(result.cost).toBe(2261);
  });

  it('resolves renamed and unimported directives through @link', () => {
    const renamed = parse(
      `extend schema @link(url: "https://specs.apollo.dev/cost/v0.1", as: "price", import: [{ name: "@listSize", as: "@size" }])`,
    );
    expect(linkedDirectiveName(renamed, 'https://specs.apollo.dev/cost', 'cost')).toBe('price');
    expect(linkedDirectiveName(renamed, 'https://specs.apollo.dev/cost', 'listSize')).toBe('size');
    const unimported = parse('extend schema @link(url: "https://specs.apollo.dev/cost/v0.1")');
    expect(linkedDirectiveName(unimported, 'https://specs.apollo.dev/cost', 'listSize')).toBe('cost__listSize');
    expect(linkedDirectiveName(parse('type Query { a: Int }'), 'https://specs.apollo.dev/cost', 'cost')).toBeUndefined();
    // A version constraint (authorization enforces only the versions it knows).
    const auth = parse('extend schema @link(url: "https://specs.apollo.dev/authenticated/v0.2", import: ["@authenticated"])');
    expect(linkedDirectiveName(auth, 'https://specs.apollo.dev/authenticated', 'authenticated')).toBe('authenticated');
    expect(linkedDirectiveName(auth, 'https://specs.apollo.dev/authenticated', 'authenticated', 'v0.1')).toBeUndefined();
  });
});
