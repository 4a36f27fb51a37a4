import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../gateway/src/config/index.js';
import { resolvePolicy } from '../gateway/src/rate-limit/policy.js';

const tiers = loadConfig({
  env: {},
  overrides: {
    rateLimit: {
      defaultTier: 'free',
      tiers: {
        free: {
          maxCost: 1_000,
          maxDepth: 10,
          maxAliases: 20,
          maxRootFields: 10,
          limits: [{ name: 'burst', kind: 'token_bucket', capacity: 2_000, refillPerSecond: 20 }],
          overrides: [
            {
              match: { rootField: 'Query.users' },
              maxCost: 300,
              limits: [{ name: 'users-hourly', kind: 'sliding_window', limit: 5_000, windowSeconds: 3_600 }],
            },
            { match: { operationName: 'Export' }, maxCost: 800 },
            { match: { operationName: 'Export' }, maxCost: 200 },
          ],
        },
        pro: {
          maxCost: 5_000,
          maxDepth: 15,
          maxAliases: 50,
          maxRootFields: 20,
          limits: [{ name: 'burst', kind: 'token_bucket', capacity: 10_000, refillPerSecond: 100 }],
        },
      },
    },
  },
}).rateLimit.tiers;

describe('tier policy', () => {
  it('takes the principal tier, or the default tier when the config has no such tier', () => {
    expect(resolvePolicy(tiers, 'free', 'pro', { rootFields: ['Query.me'] })).toMatchObject({
      tier: 'pro',
      maxCost: 5_000,
      limits: [{ capacity: 10_000 }],
    });
    expect(resolvePolicy(tiers, 'free', 'platinum', { rootFields: ['Query.me'] })).toMatchObject({ tier: 'free', maxCost: 1_000 });
    // A tier claim naming an Object.prototype member is just an unknown tier.
    for (const claim of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      expect(resolvePolicy(tiers, 'free', claim, { rootFields: ['Query.me'] })).toMatchObject({ tier: 'free', maxCost: 1_000 });
    }
  });

  it('adds the limits of a matching root-field override to the tier limits and lowers maxCost', () => {
    const policy = resolvePolicy(tiers, 'free', 'free', { operationName: 'List', rootFields: ['Query.me', 'Query.users'] });
    expect(policy.maxCost).toBe(300);
    expect(policy.limits.map((limit) => limit.name)).toEqual(['burst', 'users-hourly']);
  });

  it('applies every matching operation-name override, the smallest maxCost winning, and nothing when none matches', () => {
    expect(resolvePolicy(tiers, 'free', 'free', { operationName: 'Export', rootFields: ['Query.me'] }).maxCost).toBe(200);
    const plain = resolvePolicy(tiers, 'free', 'free', { operationName: 'Other', rootFields: ['Query.me'] });
    expect(plain).toMatchObject({ maxCost: 1_000, limits: [{ name: 'burst' }] });
    expect(plain.limits).toHaveLength(1);
  });
});

describe('rate-limit config', () => {
  it('has the default tiers, token buckets, and a daily window on free', () => {
    const config = loadConfig({ env: {} });
    expect(Object.keys(config.rateLimit.tiers)).toEqual(['anonymous', 'free', 'pro', 'enterprise']);
    expect(config.rateLimit.tiers.free?.limits.map((l) => l.kind)).toEqual(['token_bucket', 'sliding_window']);
    expect(config.rateLimit).toMatchObject({ enabled: true, store: 'auto', onStoreFailure: 'open', defaultTier: 'free' });
  });

  it('refuses a default tier that is not configured, and a Redis store without redis.url', () => {
    expect(() => loadConfig({ env: {}, overrides: { rateLimit: { defaultTier: 'gold' } } })).toThrow(
      /rateLimit\.defaultTier: no tier named gold/,
    );
    expect(() => loadConfig({ env: {}, overrides: { rateLimit: { store: 'redis' } } })).toThrow(ConfigError);
    expect(() => loadConfig({ env: {}, overrides: { rateLimit: { store: 'redis' } } })).toThrow(/rateLimit\.store: redis needs redis\.url/);
  });

  it('refuses a tier whose maxCost could never fit one of its limits, and repeated limit names', () => {
    const tier = (limits: { name: string; kind: 'token_bucket'; capacity: number; refillPerSecond: number }[]) => ({
      rateLimit: { defaultTier: 't', tiers: { t: { maxCost: 100, maxDepth: 5, maxAliases: 5, maxRootFields: 5, limits } } },
    });
    expect(() =>
      loadConfig({ env: {}, overrides: tier([{ name: 'burst', kind: 'token_bucket', capacity: 50, refillPerSecond: 1 }]) }),
    ).toThrow(/rateLimit\.tiers\.t\.limits\.0: holds at most 50 points, less than maxCost 100/);
    const twice = { name: 'burst', kind: 'token_bucket' as const, capacity: 500, refillPerSecond: 1 };
    expect(() => loadConfig({ env: {}, overrides: tier([twice, twice]) })).toThrow(/limit names must be unique in a tier/);
  });

  it("refuses an override's limit that the operations it applies to could never fit", () => {
    const withOverride = (override: Record<string, unknown>) => ({
      rateLimit: {
        defaultTier: 't',
        tiers: {
          t: {
            maxCost: 100,
            maxDepth: 5,
            maxAliases: 5,
            maxRootFields: 5,
            limits: [{ name: 'burst', kind: 'token_bucket' as const, capacity: 500, refillPerSecond: 1 }],
            overrides: [{ match: { rootField: 'Query.users' }, ...override }],
          },
        },
      },
    });
    const window = (limit: number) => ({ limits: [{ name: 'users', kind: 'sliding_window' as const, limit, windowSeconds: 60 }] });
    expect(() => loadConfig({ env: {}, overrides: withOverride(window(50)) })).toThrow(
      /rateLimit\.tiers\.t\.overrides\.0\.limits\.0: holds at most 50 points, less than the maxCost 100/,
    );
    // The override's own lower maxCost is what its limits must hold.
    expect(() => loadConfig({ env: {}, overrides: withOverride({ maxCost: 40, ...window(50) }) })).not.toThrow();
    // An override's maxCost above the tier's changes nothing: the tier's 100 is what must fit.
    expect(() => loadConfig({ env: {}, overrides: withOverride({ maxCost: 500, ...window(200) }) })).not.toThrow();
  });
});
