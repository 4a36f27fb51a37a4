import { readFileSync } from 'node:fs';
import { BatchedWrites } from '../cache/batched-writes.js';
import type { RedisClient } from '../redis/client.js';
import { limitKey, type BudgetStore, type ChargeResult, type LimitSpec, type LimitState, type RefundResult } from './budget.js';

const SCRIPT = readFileSync(new URL('./scripts/budget.lua', import.meta.url), 'utf8');
type Mode = 'charge' | 'refund' | 'peek';

interface BudgetCommand {
  gatewayBudget(numberOfKeys: number, ...args: (string | number)[]): Promise<string[] | (string | number)[]>;
}

export interface RedisBudgetStoreOptions {
  /**
   * How long a refund may wait in this instance before it is sent (`rateLimit.refundDelayMs`):
   * folded into the same client's next charge when one comes first, else sent with the other
   * refunds due. 0: each refund is sent at once and its state after is returned.
   */
  refundDelayMs?: number | undefined;
  /** Called when held refunds could not be sent (they are lost: the client keeps the charge). */
  onRefundLost?: ((error: unknown) => void) | undefined;
}

/** Refunds held for one client and one set of limits (the keys of a script call). */
interface HeldRefund {
  client: string;
  limits: readonly LimitSpec[];
  points: number;
}

/**
 * The budget in Redis: one Lua script per call (EVALSHA after the first), atomic across all of a
 * client's limits, with Redis `TIME` as the clock so every gateway instance agrees. Keys carry the
 * client as a hash tag and expire when the limit is full again, so idle clients cost nothing.
 *
 * With `refundDelayMs`, refunds are held here and reach Redis inside the client's next charge (the
 * script gives the points back first, in the same atomic call), or at the latest `refundDelayMs`
 * later: a busy client costs one round trip per request instead of two. Until then, every instance
 * sees the client's budget short by what is held (docs/cost-and-rate-limits.md, "Refunds in Redis").
 */
export class RedisBudgetStore implements BudgetStore {
  private readonly redis: RedisClient & BudgetCommand;
  private readonly refundDelayMs: number;
  private readonly held = new Map<string, HeldRefund>();
  /** Sends what no charge took, at the end of each `refundDelayMs` window (and at shutdown). */
  private readonly sends: BatchedWrites;

  constructor(
    redis: RedisClient,
    private readonly options: RedisBudgetStoreOptions = {},
  ) {
    if (!('gatewayBudget' in redis)) redis.defineCommand('gatewayBudget', { lua: SCRIPT });
    this.redis = redis as RedisClient & BudgetCommand;
    this.refundDelayMs = options.refundDelayMs ?? 0;
    this.sends = new BatchedWrites(this.refundDelayMs);
  }

  async charge(client: string, cost: number, limits: readonly LimitSpec[]): Promise<ChargeResult> {
    const key = this.held.size > 0 ? heldKey(client, limits) : undefined;
    const credit = key === undefined ? undefined : this.held.get(key);
    // Its send, still held in `sends`, finds nothing left when its window ends.
    if (key !== undefined && credit) this.held.delete(key);
    // A charge that fails loses the credit it carried: Redis may have applied it (a timeout), and
    // giving it again could refund twice. The client keeps the charge, as with a lost refund.
    let reply: Awaited<ReturnType<RedisBudgetStore['run']>>;
    try {
      reply = await this.run('charge', client, cost, limits, credit?.points ?? 0);
    } catch (error) {
      if (credit) this.options.onRefundLost?.(error);
      throw error;
    }
    const retry = Number(reply[1]);
    return { allowed: Number(reply[0]) === 1, retryAfterSeconds: retry < 0 ? null : retry, limits: states(reply, limits) };
  }

  async refund(client: string, points: number, limits: readonly LimitSpec[]): Promise<RefundResult> {
    if (this.refundDelayMs <= 0) return states(await this.run('refund', client, points, limits), limits);
    const key = heldKey(client, limits);
    const held = this.held.get(key);
    if (held) {
      held.points += points;
      held.limits = limits;
    } else {
      this.held.set(key, { client, limits, points });
      this.sends.run(() => this.send(key)).catch((error: unknown) => this.options.onRefundLost?.(error));
    }
    return 'deferred';
  }

  async peek(client: string, limits: readonly LimitSpec[]): Promise<LimitState[]> {
    return states(await this.run('peek', client, 0, limits), limits);
  }

  /** One DEL of every key: they share the client's hash tag, so one slot, also on a cluster. */
  async reset(client: string, limits: readonly LimitSpec[]): Promise<number> {
    if (limits.length === 0) return 0;
    return this.redis.del(...limits.map((limit) => limitKey(client, limit)));
  }

  /** Held refunds are sent before the gateway lets go of Redis (bounded by `redis.commandTimeoutMs`). */
  close(): Promise<void> {
    return this.sends.flush();
  }

  /** The refund held under `key`, if no charge took it meanwhile (on one server, ioredis pipelines the window's sends into one write). */
  private async send(key: string): Promise<void> {
    const refund = this.held.get(key);
    if (!refund) return;
    this.held.delete(key);
    await this.run('refund', refund.client, refund.points, refund.limits);
  }

  private run(mode: Mode, client: string, points: number, limits: readonly LimitSpec[], credit = 0) {
    const args: (string | number)[] = [mode, points, credit];
    for (const limit of limits) {
      if (limit.kind === 'token_bucket') args.push('tb', limit.capacity, limit.refillPerSecond);
      else args.push('sw', limit.limit, limit.windowSeconds);
    }
    return this.redis.gatewayBudget(limits.length, ...limits.map((limit) => limitKey(client, limit)), ...args);
  }
}

/** Which held refunds a charge takes: the same client and the same stored limits (kind and name). */
function heldKey(client: string, limits: readonly LimitSpec[]): string {
  let key = client;
  for (const limit of limits) key += `\0${limit.kind}:${limit.name}`;
  return key;
}

function states(reply: (string | number)[], limits: readonly LimitSpec[]): LimitState[] {
  return limits.map((limit, i) => ({
    name: limit.name,
    kind: limit.kind,
    remaining: Number(reply[2 + i * 4]),
    resetSeconds: Number(reply[3 + i * 4]),
    max: Number(reply[4 + i * 4]),
    restoreRate: Number(reply[5 + i * 4]),
  }));
}
