import type { TierConfig } from './config.js';
import type { LimitSpec } from './budget.js';

/** What applies to one operation of one client: its tier's limits with the matching overrides. */
export interface OperationPolicy {
  /** The configured tier that applies (the default tier when the principal's has no entry). */
  tier: string;
  maxCost: number;
  maxDepth: number;
  maxAliases: number;
  maxRootFields: number;
  /** Every limit the estimate is charged to: the tier's, then those of each matching override. */
  limits: LimitSpec[];
}

export interface OperationFacts {
  operationName?: string | null | undefined;
  /** Coordinates of the root fields selected, e.g. `Query.users`. */
  rootFields: readonly string[];
}

/**
 * The policy for an operation: the principal's tier (or `defaultTier`), then every override whose
 * `match` fits, in config order. A matching override lowers `maxCost` (the smallest wins) and adds
 * its limits to the tier's, so that all must pass.
 */
export function resolvePolicy(
  tiers: Readonly<Record<string, TierConfig>>,
  defaultTier: string,
  principalTier: string,
  facts: OperationFacts,
): OperationPolicy {
  // Own properties only: a tier claim such as `constructor` must not reach Object.prototype.
  const tier = Object.hasOwn(tiers, principalTier) ? principalTier : defaultTier;
  const config = tiers[tier];
  if (!config) throw new Error(`no tier named ${tier} in rateLimit.tiers`);
  const policy: OperationPolicy = {
    tier,
    maxCost: config.maxCost,
    maxDepth: config.maxDepth,
    maxAliases: config.maxAliases,
    maxRootFields: config.maxRootFields,
    limits: [...config.limits],
  };
  for (const override of config.overrides) {
    const matches =
      'operationName' in override.match
        ? override.match.operationName === facts.operationName
        : facts.rootFields.includes(override.match.rootField);
    if (!matches) continue;
    if (override.maxCost !== undefined) policy.maxCost = Math.min(policy.maxCost, override.maxCost);
    policy.limits.push(...override.limits);
  }
  return policy;
}
