import { readFileSync } from 'node:fs';
import type { RedisClient } from '../redis/client.js';
import { limitKey, type BudgetStore, type ChargeResult, type LimitSpec, type LimitState } from './budget.js';

const SCRIPT = readFileSync(new URL('./scripts/budget.lua', import.meta.url), 'utf8');
type Mode = 'charge' | 'refund' | 'peek';

interface BudgetCommand {
  gatewayBudget(numberOfKeys: number, ...args: (string | number)[]): Promise<string[] | (string | number)[]>;
}

/**
 * The budget in Redis: one Lua script per call (EVALSHA after the first), atomic across all of a
 * client's limits, with Redis `TIME` as the clock so every gateway instance agrees. Keys carry the
 * client as a hash tag and expire when the limit is full again, so idle clients cost nothing.
 */
export class RedisBudgetStore implements BudgetStore {
  private readonly redis: RedisClient & BudgetCommand;

  constructor(redis: RedisClient) {
    if (!('gatewayBudget' in redis)) redis.defineCommand('gatewayBudget', { lua: SCRIPT });
    this.redis = redis as RedisClient & BudgetCommand;
  }

  async charge(client: string, cost: number, limits: readonly LimitSpec[]): Promise<ChargeResult> {
    const reply = await this.run('charge', client, cost, limits);
    const retry = Number(reply[1]);
    return { allowed: Number(reply[0]) === 1, retryAfterSeconds: retry < 0 ? null : retry, limits: states(reply, limits) };
  }

  async refund(client: string, points: number, limits: readonly LimitSpec[]): Promise<LimitState[]> {
    return states(await this.run('refund', client, points, limits), limits);
  }

  async peek(client: string, limits: readonly LimitSpec[]): Promise<LimitState[]> {
    return states(await this.run('peek', client, 0, limits), limits);
  }

  /** One DEL of every key: they share the client's hash tag, so one slot, also on a cluster. */
  async reset(client: string, limits: readonly LimitSpec[]): Promise<number> {
    if (limits.length === 0) return 0;
    return this.redis.del(...limits.map((limit) => limitKey(client, limit)));
  }

  private run(mode: Mode, client: string, points: number, limits: readonly LimitSpec[]) {
    const args: (string | number)[] = [mode, points];
    for (const limit of limits) {
      if (limit.kind === 'token_bucket') args.push('tb', limit.capacity, limit.refillPerSecond);
      else args.push('sw', limit.limit, limit.windowSeconds);
    }
    return this.redis.gatewayBudget(limits.length, ...limits.map((limit) => limitKey(client, limit)), ...args);
  }
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
