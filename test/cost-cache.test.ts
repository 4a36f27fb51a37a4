import { parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { CostEstimateCache, variableRoles } from '../gateway/src/cost/cache.js';
import { estimateCost } from '../gateway/src/cost/estimate.js';
import { costTestSchema } from './helpers/cost-schema.js';

const { schema, model } = costTestSchema();

describe('cost estimate cache', () => {
  it('knows which variables can change a cost, and how', () => {
    const document = parse(`
      query($n: Int, $cursor: ID!, $show: Boolean!, $input: BookInput!, $term: String!, $tags: [TagInput!]) {
        books(first: $n) { title @include(if: $show) }
        book(id: $cursor) { title }
        search(term: $term) { __typename }
      }
      mutation M($input: BookInput!, $tags: [TagInput!]) { addBook(input: $input) { id } other: addBook(input: { title: "t", tags: $tags }) { id } }
    `);
    expect(Object.fromEntries(variableRoles(schema, model, document))).toEqual({
      n: 'number', // a slicing argument
      show: 'boolean', // @include
      term: 'nullness', // @cost(weight: 4) whatever its value
      input: 'json', // an input object: its shape is its cost
      tags: 'json', // inside an input object literal
      // $cursor: an unweighted ID, never part of the key
    });
  });

  it('serves a repeated operation without re-analysis, across variables that cannot change the cost', () => {
    const cache = new CostEstimateCache(schema, model);
    const query = 'query($after: ID!, $n: Int) { book(id: $after) { title } books(first: $n) { pages } }';
    const document = parse(query);
    let computed = 0;
    const get = (variables: Record<string, unknown>) =>
      cache.get('doc-1', document, undefined, variables, () => {
        computed++;
        return estimateCost(schema, model, document, { variables, defaultListSize: 10 });
      });

    expect(get({ after: 'a', n: 3 }).cost).toBe(1 + 18);
    expect(get({ after: 'b', n: 3 }).cost).toBe(1 + 18);
    expect(get({ after: 'c', n: 3 }).cost).toBe(1 + 18);
    expect(computed).toBe(1);
    // A different slicing value is a different estimate.
    expect(get({ after: 'a', n: 5 }).cost).toBe(1 + 30);
    expect(computed).toBe(2);
    expect({ hits: cache.hits, misses: cache.misses }).toEqual({ hits: 2, misses: 2 });
  });

  it('keys on the operation name and the document', () => {
    const cache = new CostEstimateCache(schema, model);
    const document = parse('query A { tags } query B { expensive }');
    const cost = (name: string, key = 'doc-2') =>
      cache.get(key, document, name, {}, () => estimateCost(schema, model, document, { operationName: name, defaultListSize: 10 })).cost;
    expect(cost('A')).toBe(0);
    expect(cost('B')).toBe(7);
    expect(cost('B', 'doc-3')).toBe(7);
    expect(cache.misses).toBe(3);
  });
});
