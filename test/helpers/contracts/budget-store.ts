import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import type { BudgetStore, LimitSpec, LimitState, RefundResult } from '../../../gateway/src/rate-limit/budget.js';

export const bucket = (capacity: number, refillPerSecond: number, name = 'bucket'): LimitSpec => ({
  name,
  kind: 'token_bucket',
  capacity,
  refillPerSecond,
});
export const window = (limit: number, windowSeconds: number, name = 'window'): LimitSpec => ({
  name,
  kind: 'sliding_window',
  limit,
  windowSeconds,
});

/** The state a refund returned; these stores send each refund at once (no `refundDelayMs`). */
export function stateAfter(result: RefundResult): LimitState[] {
  if (result === 'deferred') throw new Error('the refund was deferred: this store should send it at once');
  return result;
}

let clientSeq = 0;
export const newClient = () => `client-${++clientSeq}-${randomBytes(2).toString('hex')}`;

/**
 * The budget store contract: every {@link BudgetStore} (memory, one Redis server, a Redis Cluster)
 * runs these same cases. `makeStore` is called once, in `beforeAll`, so it may use a connection
 * that a `beforeAll` of the calling file opened.
 */
export function describeBudgetStoreContract(name: string, makeStore: () => BudgetStore): void {
  describe(`budget store contract: ${name}`, () => {
    let store: BudgetStore;
    beforeAll(() => {
      store = makeStore();
    });

    it('starts a client full and takes the cost from a token bucket', async () => {
      const client = newClient();
      const result = await store.charge(client, 30, [bucket(100, 0.01)]);
      expect(result.allowed).toBe(true);
      expect(result.limits[0]?.remaining).toBeGreaterThanOrEqual(70);
      expect(result.limits[0]?.remaining).toBeLessThan(70.5);
      expect(result.limits[0]).toMatchObject({ name: 'bucket', kind: 'token_bucket', max: 100, restoreRate: 0.01 });
    });

    it('refuses a charge that does not fit, takes nothing, and says when it will fit', async () => {
      const client = newClient();
      const limits = [bucket(100, 10)];
      await store.charge(client, 70, limits);
      const refused = await store.charge(client, 80, limits);
      expect(refused.allowed).toBe(false);
      // 30 left (plus a little refill): 50 more points at 10/s is about 5 s.
      expect(refused.retryAfterSeconds).toBeGreaterThan(4);
      expect(refused.retryAfterSeconds).toBeLessThanOrEqual(5);
      const [state] = await store.peek(client, limits);
      expect(state?.remaining).toBeGreaterThanOrEqual(30);
      expect(state?.remaining).toBeLessThan(40);
    });

    it('charges every limit or none (a refusal by one limit leaves the others untouched)', async () => {
      const client = newClient();
      const limits = [bucket(100, 0.01), window(50, 3600)];
      expect((await store.charge(client, 40, limits)).allowed).toBe(true);
      const refused = await store.charge(client, 20, limits);
      expect(refused.allowed).toBe(false);
      const [bucketState, windowState] = await store.peek(client, limits);
      expect(Math.floor(bucketState?.remaining ?? 0)).toBe(60);
      expect(windowState?.remaining).toBeCloseTo(10, 5);
    });

    it('never allows a cost larger than a limit, and says it never will', async () => {
      const result = await store.charge(newClient(), 101, [bucket(100, 50)]);
      expect(result).toMatchObject({ allowed: false, retryAfterSeconds: null });
      const windowed = await store.charge(newClient(), 60, [window(50, 60)]);
      expect(windowed).toMatchObject({ allowed: false, retryAfterSeconds: null });
    });

    it('refunds, but never above the maximum', async () => {
      const client = newClient();
      const limits = [bucket(100, 0.01), window(100, 3600)];
      await store.charge(client, 40, limits);
      const afterRefund = stateAfter(await store.refund(client, 30, limits));
      expect(Math.floor(afterRefund[0]?.remaining ?? 0)).toBe(90);
      expect(afterRefund[1]?.remaining).toBeCloseTo(90, 5);
      const capped = stateAfter(await store.refund(client, 500, limits));
      expect(capped[0]?.remaining).toBe(100);
      expect(capped[1]?.remaining).toBe(100);
    });

    it('refills a bucket with time', async () => {
      const client = newClient();
      const limits = [bucket(100, 100)];
      await store.charge(client, 100, limits);
      await sleep(300);
      const [state] = await store.peek(client, limits);
      expect(state?.remaining).toBeGreaterThanOrEqual(25); // at least 0.3 s × 100/s, less rounding
      expect(state?.remaining).toBeLessThanOrEqual(100);
    });

    it('lets the refused cost through once its Retry-After has passed', async () => {
      const client = newClient();
      const limits = [bucket(10, 10), window(20, 1)];
      expect((await store.charge(client, 10, limits)).allowed).toBe(true);
      const refused = await store.charge(client, 8, limits);
      expect(refused.allowed).toBe(false);
      expect(refused.retryAfterSeconds).toBeGreaterThan(0);
      await sleep(Math.ceil((refused.retryAfterSeconds ?? 0) * 1000) + 50);
      expect((await store.charge(client, 8, limits)).allowed).toBe(true);
    });

    it('resets every limit of a client to full, and only that client', async () => {
      const [client, other] = [newClient(), newClient()];
      const limits = [bucket(100, 0.01), window(50, 3600)];
      await store.charge(client, 40, limits);
      await store.charge(other, 40, limits);
      expect(await store.reset(client, limits)).toBe(2);
      const [bucketState, windowState] = await store.peek(client, limits);
      expect(bucketState?.remaining).toBe(100);
      expect(windowState?.remaining).toBe(50);
      expect(Math.floor((await store.peek(other, limits))[0]?.remaining ?? 0)).toBe(60);
      expect(await store.reset(newClient(), limits)).toBe(0);
    });

    it('keeps clients apart', async () => {
      const [a, b] = [newClient(), newClient()];
      const limits = [bucket(50, 0.01)];
      await store.charge(a, 50, limits);
      expect((await store.charge(a, 1, limits)).allowed).toBe(false);
      expect((await store.charge(b, 50, limits)).allowed).toBe(true);
    });

    it('admits exactly what fits under concurrent charges', async () => {
      const client = newClient();
      const limits = [bucket(100, 0.001)];
      const results = await Promise.all(Array.from({ length: 50 }, () => store.charge(client, 10, limits)));
      expect(results.filter((r) => r.allowed)).toHaveLength(10);
    });
  });
}
