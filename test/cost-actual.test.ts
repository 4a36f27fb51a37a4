import { parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { ActualCostPlans, actualCost } from '../gateway/src/cost/actual.js';
import { CostEstimateCache } from '../gateway/src/cost/cache.js';
import { estimateCost } from '../gateway/src/cost/estimate.js';
import { eventCharger } from '../gateway/src/cost/event-charge.js';
import { BudgetService } from '../gateway/src/rate-limit/budget-service.js';
import { MemoryBudgetStore } from '../gateway/src/rate-limit/memory-store.js';
import { costTestSchema } from './helpers/cost-schema.js';

const { schema, model } = costTestSchema();

function actual(query: string, data: unknown, variables?: Record<string, unknown>) {
  return actualCost(schema, model, parse(query), { variables }, data);
}

describe('actual cost of a response', () => {
  const cases: { name: string; query: string; data: unknown; variables?: Record<string, unknown>; cost: number; why: string }[] = [
    {
      name: 'a shorter list than estimated',
      query: '{ books(first: 3) { title pages } }',
      data: {
        books: [
          { title: 'a', pages: 1 },
          { title: 'b', pages: 2 },
        ],
      },
      cost: 12,
      why: '2 × (Book 1 + pages 5); estimate 18',
    },
    {
      name: 'a null object costs nothing below it',
      query: '{ book(id: 1) { author { name } } }',
      data: { book: { author: null } },
      cost: 1,
      why: 'Book 1; estimate 4',
    },
    { name: 'a null root field', query: '{ book(id: 1) { pages } }', data: { book: null }, cost: 0, why: 'nothing returned' },
    {
      name: 'union items by __typename',
      query: '{ search(term: "x") { __typename ... on Book { pages } ... on Author { name } } }',
      data: {
        search: [
          { __typename: 'Book', pages: 1 },
          { __typename: 'Author', name: 'a' },
        ],
      },
      cost: 11,
      why: 'term 4 + (1 + pages 5) + (1 + 0)',
    },
    {
      name: 'union items without __typename: by the fields present',
      query: '{ search(term: "x") { ... on Book { pages } ... on Author { name } } }',
      data: { search: [{ pages: 1 }] },
      cost: 10,
      why: 'term 4 + 1 + pages 5',
    },
    {
      name: 'a field selected twice counts once',
      query: '{ book(id: 1) { author { name } author { name } } }',
      data: { book: { author: { name: 'n' } } },
      cost: 4,
      why: 'Book 1 + Author 3',
    },
    {
      name: 'skipped fields are not counted even if present',
      query: 'query($s: Boolean!) { book(id: 1) { pages @skip(if: $s) } }',
      data: { book: { pages: 3 } },
      variables: { s: true },
      cost: 1,
      why: 'Book 1',
    },
    {
      name: "an operation's variable defaults, as executed: the input of a mutation left to its default",
      query:
        'mutation($input: BookInput! = { title: "t", tags: [{ name: "a" }, { name: "b" }], price: 5 }) { addBook(input: $input) { id } }',
      data: { addBook: { id: '1' } },
      cost: 21,
      why: '10 + Book 1 + input 10, as estimated',
    },
    {
      name: 'a default skip condition',
      query: 'query($s: Boolean = true) { book(id: 1) { pages @skip(if: $s) } }',
      data: { book: { pages: 3 } },
      cost: 1,
      why: 'Book 1',
    },
    {
      name: 'a mutation with its input',
      query: 'mutation($input: BookInput!) { addBook(input: $input) { id } }',
      data: { addBook: { id: '1' } },
      variables: { input: { title: 't', tags: [{ name: 'a' }, { name: 'b' }], price: 5 } },
      cost: 21,
      why: '10 + Book 1 + input 10, as estimated',
    },
  ];
  for (const { name, query, data, variables, cost, why } of cases) {
    it(`${name}: ${cost} (${why})`, () => expect(actual(query, data, variables)).toBe(cost));
  }

  it('equals the estimate when the response has exactly the estimated sizes', () => {
    const query = '{ authors(first: 2) { edges { node { name } } } shelf { books { pages } } }';
    const data = {
      authors: { edges: [{ node: { name: 'a' } }, { node: { name: 'b' } }] },
      shelf: { books: [{ pages: 1 }, { pages: 2 }, { pages: 3 }, { pages: 4 }] },
    };
    const estimated = estimateCost(schema, model, parse(query), { defaultListSize: 10 }).cost;
    expect(actual(query, data)).toBe(estimated);
  });

  it('works each plan out once when a plans store is kept across responses (as the cost plugin keeps one per cached estimate)', () => {
    const document = parse(
      'query($s: Boolean!) { books(first: 3) { title pages author { name } } search(term: "x") { ... on Book { pages } ... on Author { name } } shelf @skip(if: $s) { books { pages } } }',
    );
    const variables = { s: false };
    const responses = [
      { books: [{ title: 'a', pages: 1, author: { name: 'x' } }], search: [{ __typename: 'Book', pages: 2 }], shelf: { books: [] } },
      {
        books: [
          { title: 'b', pages: 3, author: null },
          { title: 'c', pages: 4, author: { name: 'y' } },
        ],
        search: [
          { __typename: 'Author', name: 'z' },
          { __typename: 'Book', pages: 5 },
        ],
        shelf: { books: [{ pages: 6 }] },
      },
    ];
    const plans = new ActualCostPlans();
    const fresh = responses.map((data) => actualCost(schema, model, document, { variables }, data));
    const kept = responses.map((data) => actualCost(schema, model, document, { variables }, data, plans));
    expect(kept).toEqual(fresh);
    const built = plans.built;
    expect(built).toBeGreaterThan(0);
    expect(responses.map((data) => actualCost(schema, model, document, { variables }, data, plans))).toEqual(fresh);
    expect(plans.built).toBe(built);
  });
});

describe("a subscription's events, charged by their actual cost", () => {
  it('are charged by the same plans from one event to the next, and refused once the budget is spent', async () => {
    // The test schema has no subscription type; the charger walks any operation's data alike.
    const document = parse('{ books(first: 3) { title pages } }');
    const plans = new ActualCostPlans();
    const budget = new BudgetService({ store: new MemoryBudgetStore(), headers: { ietf: false, legacy: false } });
    const charge = eventCharger({
      budget,
      analyzer: { schema, model, cache: new CostEstimateCache(schema, model) },
      document,
      operationName: undefined,
      variables: {},
      client: { clientKey: 'event-charger-test', tier: 'free' },
      limits: [{ name: 'burst', kind: 'token_bucket', capacity: 30, refillPerSecond: 0.001 }],
      plans,
    });
    const event = (n: number) => ({ books: Array.from({ length: n }, (_, i) => ({ title: `t${i}`, pages: i })) });
    // 2 × (Book 1 + pages 5) = 12, then 1 × 6 = 6, as actualCost says for a query.
    expect(await charge(event(2))).toEqual({ allowed: true, cost: 12 });
    const built = plans.built;
    expect(built).toBeGreaterThan(0);
    expect(await charge(event(1))).toEqual({ allowed: true, cost: 6 });
    expect(plans.built).toBe(built);
    // 12 + 6 of 30 spent: an event of 18 does not fit.
    expect(await charge(event(3))).toMatchObject({ allowed: false, cost: 18, error: { extensions: { code: 'RATE_LIMITED' } } });
    expect(plans.built).toBe(built);
  });
});
