import { LRUCache } from 'lru-cache';
import { limitKey, type BudgetStore, type ChargeResult, type LimitSpec, type LimitState } from './budget.js';

type BucketState = { tokens: number; ts: number };
type WindowState = { win: number; cur: number; prev: number };

export interface MemoryBudgetStoreOptions {
  /** Most limit states kept (a state per client per limit); the least recently used go first. */
  maxEntries?: number;
  /** Seconds since an arbitrary epoch; tests may pass their own clock. */
  now?: () => number;
}

/**
 * The budget in this process: the same arithmetic as scripts/budget.lua, for a gateway without
 * Redis, and as the fallback when Redis is down. Entries expire when the limit is full again.
 */
export class MemoryBudgetStore implements BudgetStore {
  private statesCache: LRUCache<string, BucketState | WindowState> | undefined;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(options: MemoryBudgetStoreOptions = {}) {
    this.maxEntries = options.maxEntries ?? 100_000;
    this.now = options.now ?? (() => Date.now() / 1000);
  }

  /**
   * Made at the first use: lru-cache allocates its arrays for `max` entries up front (about 3 MB
   * for 100,000), which the fail-open fallback of a Redis store would hold for nothing until Redis fails.
   */
  private get states(): LRUCache<string, BucketState | WindowState> {
    this.statesCache ??= new LRUCache({ max: this.maxEntries });
    return this.statesCache;
  }

  async charge(client: string, cost: number, limits: readonly LimitSpec[]): Promise<ChargeResult> {
    const now = this.now();
    const views = limits.map((limit) => this.view(client, limit, now));
    let allowed = true;
    let retry: number | null = 0;
    for (const view of views) {
      const wait = view.waitFor(cost);
      if (wait === 0) continue;
      allowed = false;
      retry = wait === null || retry === null ? null : Math.max(retry, wait);
    }
    if (allowed) for (const view of views) view.add(-cost);
    return { allowed, retryAfterSeconds: allowed ? 0 : retry, limits: views.map((view) => view.save()) };
  }

  async refund(client: string, points: number, limits: readonly LimitSpec[]): Promise<LimitState[]> {
    const now = this.now();
    return limits.map((limit) => {
      const view = this.view(client, limit, now);
      view.add(points);
      return view.save();
    });
  }

  async peek(client: string, limits: readonly LimitSpec[]): Promise<LimitState[]> {
    const now = this.now();
    return limits.map((limit) => this.view(client, limit, now).state());
  }

  async reset(client: string, limits: readonly LimitSpec[]): Promise<number> {
    let removed = 0;
    for (const limit of limits) if (this.states.delete(limitKey(client, limit))) removed += 1;
    return removed;
  }

  private view(client: string, limit: LimitSpec, now: number): LimitView {
    const key = limitKey(client, limit);
    const stored = this.states.get(key);
    const persist = (value: BucketState | WindowState, ttlSeconds: number) =>
      this.states.set(key, value, { ttl: Math.ceil(ttlSeconds * 1000) + 1000 });
    return limit.kind === 'token_bucket'
      ? new BucketView(limit, now, stored as BucketState | undefined, persist)
      : new WindowView(limit, now, stored as WindowState | undefined, persist);
  }
}

interface LimitView {
  /** 0 when `cost` fits now, else seconds until it does, or null if it never can. */
  waitFor(cost: number): number | null;
  /** Adds points (negative: takes them), within [.., max]. */
  add(points: number): void;
  state(): LimitState;
  save(): LimitState;
}

class BucketView implements LimitView {
  private tokens: number;

  constructor(
    private readonly limit: Extract<LimitSpec, { kind: 'token_bucket' }>,
    private readonly now: number,
    stored: BucketState | undefined,
    private readonly persist: (value: BucketState, ttlSeconds: number) => void,
  ) {
    const tokens = stored?.tokens ?? limit.capacity;
    const ts = stored?.ts ?? now;
    this.tokens = Math.min(limit.capacity, tokens + Math.max(0, now - ts) * limit.refillPerSecond);
  }

  waitFor(cost: number): number | null {
    if (this.tokens >= cost) return 0;
    return cost > this.limit.capacity ? null : (cost - this.tokens) / this.limit.refillPerSecond;
  }

  add(points: number): void {
    this.tokens = Math.min(this.limit.capacity, this.tokens + points);
  }

  state(): LimitState {
    const { name, kind, capacity, refillPerSecond } = this.limit;
    return {
      name,
      kind,
      max: capacity,
      remaining: this.tokens,
      resetSeconds: (capacity - this.tokens) / refillPerSecond,
      restoreRate: refillPerSecond,
    };
  }

  save(): LimitState {
    const state = this.state();
    this.persist({ tokens: this.tokens, ts: this.now }, state.resetSeconds);
    return state;
  }
}

class WindowView implements LimitView {
  private readonly win: number;
  private readonly elapsed: number;
  private cur: number;
  private prev: number;

  constructor(
    private readonly limit: Extract<LimitSpec, { kind: 'sliding_window' }>,
    now: number,
    stored: WindowState | undefined,
    private readonly persist: (value: WindowState, ttlSeconds: number) => void,
  ) {
    const size = limit.windowSeconds;
    this.win = Math.floor(now / size);
    this.elapsed = (now - this.win * size) / size;
    const storedWin = stored?.win ?? this.win;
    this.cur = stored?.cur ?? 0;
    this.prev = stored?.prev ?? 0;
    if (storedWin === this.win - 1) {
      this.prev = this.cur;
      this.cur = 0;
    } else if (storedWin < this.win - 1) {
      this.prev = 0;
      this.cur = 0;
    }
  }

  private used(): number {
    return this.prev * (1 - this.elapsed) + this.cur;
  }

  waitFor(cost: number): number | null {
    const { limit, windowSeconds } = this.limit;
    if (this.used() + cost <= limit) return 0;
    if (cost > limit) return null;
    if (this.prev > 0 && limit - this.cur - cost >= 0) return (1 - (limit - this.cur - cost) / this.prev - this.elapsed) * windowSeconds;
    const nextFade = this.cur > 0 ? Math.max(0, 1 - (limit - cost) / this.cur) : 0;
    return (1 - this.elapsed) * windowSeconds + nextFade * windowSeconds;
  }

  add(points: number): void {
    this.cur = Math.max(0, this.cur - points);
  }

  state(): LimitState {
    const { name, kind, limit, windowSeconds } = this.limit;
    return {
      name,
      kind,
      max: limit,
      remaining: limit - this.used(),
      resetSeconds: (1 - this.elapsed) * windowSeconds,
      restoreRate: limit / windowSeconds,
    };
  }

  save(): LimitState {
    this.persist({ win: this.win, cur: this.cur, prev: this.prev }, 2 * this.limit.windowSeconds);
    return this.state();
  }
}
