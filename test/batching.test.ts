import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEV_JWT_ISSUER, signDevToken } from '../gateway/src/auth/dev-secret.js';
import type { LimitSpec } from '../gateway/src/rate-limit/budget.js';
import { RedisBudgetStore } from '../gateway/src/rate-limit/redis-store.js';
import {
  NINE_POINTS,
  TEST_REDIS_URL,
  bearer,
  deleteKeys,
  startCostGateway,
  startCountedSubgraphs,
  testKeyPrefix,
  type CountedSubgraphs,
} from './helpers/cost-stack.js';
import type { TestGateway } from './helpers/gateway.js';

/** One point: one product, no weighted field. */
const ONE_POINT = 'query One { topProducts(first: 1) { upc name } }';
/** Six points: two products at 1 each, inStock at 2 each. */
const SIX_POINTS = 'query Six { topProducts(first: 2) { upc inStock } }';
/** 150 points, over the tier's maxCost of 100. */
const EXPENSIVE = 'query Expensive { topProducts(first: 50) { upc inStock } }';

const windowLimit = (limit: number): LimitSpec => ({ name: 'window', kind: 'sliding_window', limit, windowSeconds: 3_600 });
const TIERS = {
  batch: { maxCost: 100, maxDepth: 10, maxAliases: 5, maxRootFields: 5, limits: [windowLimit(100)] },
  small: { maxCost: 9, maxDepth: 10, maxAliases: 5, maxRootFields: 5, limits: [windowLimit(20)] },
  anonymous: { maxCost: 100, maxDepth: 10, maxAliases: 5, maxRootFields: 5, limits: [windowLimit(100)] },
};

interface Slot {
  data?: Record<string, unknown> | null;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
  extensions?: { cost?: { requestedQueryCost: number; actualQueryCost: number } };
}

async function postBatch(url: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as unknown };
}

let counted: CountedSubgraphs;
let gw: TestGateway;
let store: RedisBudgetStore;
let redis: Redis;
const prefix = testKeyPrefix('batching');

beforeAll(async () => {
  counted = await startCountedSubgraphs();
  gw = await startCostGateway(counted, {
    redis: { url: TEST_REDIS_URL, keyPrefix: prefix },
    graphql: { batching: { enabled: true, maxOperations: 3 } },
    rateLimit: { storeTimeoutMs: 2_000, defaultTier: 'batch', tiers: TIERS },
  });
  redis = new Redis(TEST_REDIS_URL, { keyPrefix: prefix });
  store = new RedisBudgetStore(redis);
});
afterAll(async () => {
  await gw?.close();
  await counted?.close();
  redis?.disconnect();
  await deleteKeys(TEST_REDIS_URL, prefix);
});

async function remaining(sub: string, limit: number): Promise<number> {
  const [state] = await store.peek(`user:${DEV_JWT_ISSUER}:${sub}`, [windowLimit(limit)]);
  return state?.remaining ?? Number.NaN;
}

describe('batched operations', () => {
  it('charges each operation on its own, in order: the budget in Redis drops by the sum, and the log line has the batch', async () => {
    const headers = { ...(await bearer('batch-sum', 'batch')), 'x-request-id': 'batch-sum-1' };
    const result = await postBatch(gw.graphqlUrl, [{ query: NINE_POINTS }, { query: ONE_POINT }, { query: SIX_POINTS }], headers);
    expect(result.status).toBe(200);
    const slots = result.body as Slot[];
    expect(slots).toHaveLength(3);
    expect(slots.map((slot) => slot.errors)).toEqual([undefined, undefined, undefined]);
    expect((slots[0]?.data?.topProducts as unknown[]).length).toBe(3);
    expect((slots[1]?.data?.topProducts as unknown[]).length).toBe(1);
    expect((slots[2]?.data?.topProducts as unknown[]).length).toBe(2);
    expect(slots.map((slot) => slot.extensions?.cost?.requestedQueryCost)).toEqual([9, 1, 6]);
    // Redis holds the sum; the headers show the budget after the last charge.
    expect(await remaining('batch-sum', 100)).toBe(100 - 16);
    expect(result.headers.get('x-ratelimit-remaining')).toBe('84');

    const [line] = gw.logs.completed('batch-sum-1');
    expect(line).toMatchObject({ status: 200, batchSize: 3, cost: { estimated: 16, actual: 16 } });
    expect((line?.operations as { operationName: string; outcome: string }[]).map((op) => [op.operationName, op.outcome])).toEqual([
      ['Top', 'success'],
      ['One', 'success'],
      ['Six', 'success'],
    ]);
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    expect(metrics).toMatch(/gateway_requests_total\{operation="Six",type="query",outcome="success"\} 1/);
    expect(metrics).toMatch(/gateway_batch_operations_count 1/);
  });

  it('refuses an operation over maxCost in its own slot while the cheap one runs and is charged', async () => {
    const headers = await bearer('batch-expensive', 'batch');
    const before = counted.proxies.products.count;
    const result = await postBatch(gw.graphqlUrl, [{ query: EXPENSIVE }, { query: ONE_POINT }], headers);
    expect(result.status).toBe(200);
    const [expensive, cheap] = result.body as Slot[];
    expect(expensive?.data).toBeUndefined();
    expect(expensive?.errors?.[0]?.extensions).toMatchObject({ code: 'COST_ESTIMATED_TOO_EXPENSIVE', cost: { estimated: 150, max: 100 } });
    expect(cheap?.errors).toBeUndefined();
    expect((cheap?.data?.topProducts as unknown[]).length).toBe(1);
    // Only the cheap operation reached a subgraph, and only it was charged.
    expect(counted.proxies.products.count - before).toBe(1);
    expect(await remaining('batch-expensive', 100)).toBe(99);
  });

  it('answers RATE_LIMITED in the slot of the operation that no longer fits, charging in the order sent', async () => {
    const headers = await bearer('batch-small', 'small');
    const result = await postBatch(gw.graphqlUrl, [{ query: NINE_POINTS }, { query: NINE_POINTS }, { query: NINE_POINTS }], headers);
    expect(result.status).toBe(200);
    const slots = result.body as Slot[];
    expect(slots[0]?.errors).toBeUndefined();
    expect(slots[1]?.errors).toBeUndefined();
    expect(slots[2]?.data).toBeUndefined();
    expect(slots[2]?.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
    expect(await remaining('batch-small', 20)).toBe(2);
    expect(Number(result.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  });

  it('refuses an operation the caller may not run (authorization) in its own slot', async () => {
    const result = await postBatch(gw.graphqlUrl, [{ query: '{ order(id: "1") { id } }' }, { query: ONE_POINT }]);
    expect(result.status).toBe(200);
    const [order, cheap] = result.body as Slot[];
    expect(order?.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect((cheap?.data?.topProducts as unknown[]).length).toBe(1);
  });

  it('runs the operations one after the other: a query after a mutation sees its effect', async () => {
    const token = await signDevToken({ sub: 'user-8', tier: 'batch', scopes: ['orders:write'] });
    const headers = { authorization: `Bearer ${token}` };
    const count = '{ user(id: "user-8") { orders(first: 0) { totalCount } } }';
    const before = await postBatch(gw.graphqlUrl, [{ query: count }], headers);
    const total = (before.body as Slot[])[0]?.data as { user: { orders: { totalCount: number } } };
    const result = await postBatch(
      gw.graphqlUrl,
      [{ query: 'mutation { createOrder(input: { items: [{ upc: "upc-0003", quantity: 1 }] }) { id } }' }, { query: count }],
      headers,
    );
    const [created, after] = result.body as Slot[];
    expect(created?.errors).toBeUndefined();
    expect((after?.data as { user: { orders: { totalCount: number } } }).user.orders.totalCount).toBe(total.user.orders.totalCount + 1);
  });

  it('refuses a batch over maxOperations, an empty one or a malformed entry as a whole, before any work or charge', async () => {
    const headers = await bearer('batch-limits', 'batch');
    const before = counted.total();
    const tooMany = await postBatch(
      gw.graphqlUrl,
      Array.from({ length: 4 }, () => ({ query: ONE_POINT })),
      headers,
    );
    expect(tooMany.status).toBe(400);
    expect((tooMany.body as Slot).errors?.[0]).toMatchObject({ extensions: { code: 'BATCH_TOO_LARGE' } });
    expect((tooMany.body as Slot).errors?.[0]?.message).toContain('at most 3');
    const empty = await postBatch(gw.graphqlUrl, [], headers);
    expect(empty.status).toBe(400);
    expect((empty.body as Slot).errors?.[0]?.extensions?.code).toBe('BATCH_EMPTY');
    const malformed = await postBatch(gw.graphqlUrl, [{ query: ONE_POINT }, 'not an operation'], headers);
    expect(malformed.status).toBe(400);
    expect((malformed.body as Slot).errors?.[0]).toMatchObject({
      message: 'Operation 1 of the batch must be a JSON object.',
      extensions: { code: 'BAD_REQUEST' },
    });
    const noQuery = await postBatch(gw.graphqlUrl, [{ query: ONE_POINT }, { variables: {} }], headers);
    expect(noQuery.status).toBe(400);
    expect((noQuery.body as Slot).errors?.[0]?.extensions?.code).toBe('MISSING_QUERY');
    expect(counted.total()).toBe(before);
    expect(await remaining('batch-limits', 100)).toBe(100);
  });
});

describe('batching off (the default)', () => {
  let plain: TestGateway;
  beforeAll(async () => {
    plain = await startCostGateway(counted, {});
  });
  afterAll(async () => {
    await plain?.close();
  });

  it('answers an array body with 400 BATCHING_NOT_ENABLED and runs nothing', async () => {
    const before = counted.total();
    const result = await postBatch(plain.graphqlUrl, [{ query: ONE_POINT }]);
    expect(result.status).toBe(400);
    expect((result.body as Slot).errors?.[0]?.extensions?.code).toBe('BATCHING_NOT_ENABLED');
    expect(counted.total()).toBe(before);
  });
});
