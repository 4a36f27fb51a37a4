import type { Logger } from 'pino';
import { BREAKER_STATE_VALUE, type GatewayMetrics } from '../observability/metrics.js';
import type { RedisClient } from '../redis/client.js';
import { BreakerRegistry, type BreakerChangeCause, type PinnedState } from './breaker.js';
import { isBreakerFailure } from './call-error.js';
import { createSharedBreakers, type SharedBreakers } from './shared-breakers.js';

export interface ObservedBreakersOptions {
  metrics: GatewayMetrics;
  logger: Logger;
  /** Breaker state shared with the other gateway instances through this Redis (`resilience.sharedBreakers`); absent: per instance. */
  shared?: { redis: RedisClient; keyPrefix: string; instanceId: string; resyncIntervalMs: number; maxMessageAgeMs: number } | undefined;
  /** Called on every state change, after its gauge is set (a replica pool's combined gauge hooks in here). */
  onStateChange?: ((name: string) => void) | undefined;
}

export interface ObservedBreakers {
  /** The registry every upstream's breakers live in: subgraphs and REST routes share it. */
  readonly breakers: BreakerRegistry;
  /**
   * Pins the breaker `name` (undefined: back to its own statistics) here and, with shared breakers,
   * on every instance. Resolves to false when no breaker has that name; rejects when the pin was
   * applied here but Redis did not take it (the other instances do not know).
   */
  pin(name: string, state: PinnedState | undefined): Promise<boolean>;
  /** Whether pins reach the other instances (shared breakers on). */
  readonly sharesPins: boolean;
  /** Stops sharing state and every breaker's timers. */
  close(): Promise<void>;
}

const CAUSE_LABEL: Record<BreakerChangeCause, string> = { own: 'local', forced: 'remote', pinned: 'pinned' };

/**
 * The breaker registry with what watches it: each change sets `gateway_circuit_breaker_state`,
 * counts a transition (`local`, or `remote` when another instance's state was taken), is logged,
 * and (shared breakers on) is told to the other instances.
 */
export function createObservedBreakers(options: ObservedBreakersOptions): ObservedBreakers {
  const { metrics, logger } = options;
  let shared: SharedBreakers | undefined;
  const breakers = new BreakerRegistry({
    isFailure: isBreakerFailure,
    onStateChange: (name, state, cause) => {
      metrics.breakerState.set({ subgraph: name }, BREAKER_STATE_VALUE[state]);
      options.onStateChange?.(name);
      metrics.breakerTransitions.inc({ breaker: name, state, cause: CAUSE_LABEL[cause] });
      const log = state === 'closed' ? logger.info.bind(logger) : logger.warn.bind(logger);
      log({ subgraph: name, breaker: state, cause: CAUSE_LABEL[cause] }, `circuit breaker ${state.replace('_', '-')}`);
      const breaker = breakers.find(name);
      if (breaker) shared?.onStateChange(breaker, state, cause);
    },
    onCreate: (breaker) => shared?.track(breaker),
    // Which of the breaker's own rules opened it (the state change itself is logged above).
    onPolicyOpen: (name, rule) => logger.warn({ subgraph: name, rule }, 'circuit breaker rule fired'),
  });
  if (options.shared) {
    shared = createSharedBreakers({ ...options.shared, metrics, logger: logger.child({ component: 'shared-breakers' }) });
  }
  return {
    breakers,
    sharesPins: shared !== undefined,
    async pin(name, state) {
      const breaker = breakers.find(name);
      if (!breaker) return false;
      breaker.pin(state);
      await shared?.pin(name, state);
      return true;
    },
    async close() {
      await shared?.close();
      breakers.shutdown();
    },
  };
}
