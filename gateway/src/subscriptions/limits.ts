import type { Principal } from '../auth/principal.js';
import type { SubscriptionsConfig } from './config.js';

type Kind = 'maxSubscriptions' | 'maxConnections';

/**
 * Counts, per client (`principal.clientKey`), the subscriptions and WebSocket connections it holds
 * on this instance, against its tier's limits. A slot is taken before the work starts and given
 * back once, by the function `take` returns.
 */
export class ClientLimits {
  private readonly held: Record<Kind, Map<string, number>> = { maxSubscriptions: new Map(), maxConnections: new Map() };

  constructor(private readonly config: Pick<SubscriptionsConfig, 'perClient' | 'tiers'>) {}

  /** Takes a slot; undefined when the client holds as many as its tier allows. Returns the release. */
  take(kind: Kind, principal: Principal): (() => void) | undefined {
    const counts = this.held[kind];
    const key = principal.clientKey;
    const held = counts.get(key) ?? 0;
    if (held >= this.limit(kind, principal.tier)) return undefined;
    counts.set(key, held + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const now = (counts.get(key) ?? 1) - 1;
      if (now > 0) counts.set(key, now);
      else counts.delete(key);
    };
  }

  limit(kind: Kind, tier: string): number {
    return this.config.tiers[tier]?.[kind] ?? this.config.perClient[kind];
  }
}
