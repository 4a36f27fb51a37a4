import { parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { estimateCost } from '../gateway/src/cost/estimate.js';
import { devBearer } from './helpers/auth.js';
import { costTestSchema } from './helpers/cost-schema.js';
import { postGraphql } from './helpers/gateway.js';
import { useDemoStack } from './helpers/subgraphs.js';

/**
 * Regression (found by test/attack.test.ts): N fragments that each spread the next one twice make
 * a document of a few hundred bytes whose naive expansion has 2^N leaves. graphql-js executes it
 * in linear time (field collection expands a named fragment once per selection set); the
 * gateway's own walkers (estimate, depth/alias/root-field shape, authorization filter, actual
 * cost) expanded every spread, and a 20-level document held the event loop for 12 s.
 */
function doublingFragments(levels: number, on: string, leaf: string, entry = '...F0'): string {
  const fragments = Array.from({ length: levels }, (_, i) =>
    i === levels - 1 ? `fragment F${i} on ${on} { ${leaf} }` : `fragment F${i} on ${on} { ...F${i + 1} ...F${i + 1} }`,
  );
  return `query Bomb { ${entry} }\n${fragments.join('\n')}`;
}

describe('the estimator expands a repeated fragment spread once per selection set, as execution does', () => {
  const { schema, model } = costTestSchema();
  const estimate = (query: string) => estimateCost(schema, model, parse(query), { defaultListSize: 10 });

  it('costs and measures a doubling-fragment document like the plain query it stands for', () => {
    const plain = estimate('query { books(first: 3) { title pages } }');
    const bomb = estimate(doublingFragments(12, 'Query', 'books(first: 3) { title pages }'));
    expect(bomb.cost).toBe(plain.cost);
    expect(bomb.fields).toHaveLength(plain.fields.length);
    expect({ depth: bomb.depth, aliases: bomb.aliases, rootFields: bomb.rootFields }).toEqual({ depth: 2, aliases: 0, rootFields: 1 });
  });

  it('still counts different fragments, and the same fragment under different fields', () => {
    const twoFields = estimate('query { a: books(first: 1) { ...P } b: books(first: 2) { ...P } } fragment P on Book { pages }');
    expect(twoFields.cost).toBe(1 * 6 + 2 * 6);
    expect(twoFields.aliases).toBe(2);
    const nested = estimate(doublingFragments(30, 'Book', 'pages', 'books(first: 2) { ...F0 } book(id: 1) { ...F0 }'));
    expect(nested.cost).toBe(2 * 6 + 6);
    expect(nested.rootFields).toBe(2);
  });
});

describe('a doubling-fragment document through the gateway (estimate, authorization filter, execution, actual cost)', () => {
  const stack = useDemoStack();

  it('answers a 40-level document with the data of its single expansion', { timeout: 30_000 }, async () => {
    const result = await postGraphql(stack.gw.graphqlUrl, { query: doublingFragments(40, 'Query', 'topProducts(first: 2) { upc }') });
    expect(result.status).toBe(200);
    expect(result.body).toEqual({ data: { topProducts: [{ upc: 'upc-0001' }, { upc: 'upc-0002' }] } });
  });

  it('filters a 40-level document with @authenticated fields for a signed-in caller', { timeout: 30_000 }, async () => {
    const query = doublingFragments(40, 'User', 'id orders(first: 1) { totalCount }', 'me { ...F0 }');
    const result = await postGraphql(stack.gw.graphqlUrl, { query }, await devBearer('user-1'));
    expect(result.status).toBe(200);
    expect(result.body.errors).toBeUndefined();
    expect(result.body.data).toEqual({ me: { id: 'user-1', orders: { totalCount: expect.any(Number) } } });
    const anonymous = await postGraphql(stack.gw.graphqlUrl, { query });
    expect(anonymous.status).toBe(200);
    expect(anonymous.body.data).toEqual({ me: null });
  });
});
