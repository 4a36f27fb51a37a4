import CircuitBreaker from 'opossum';
import { BreakerPolicy, type PolicyVerdict } from './breaker-policy.js';
import { AttemptCancelledError } from './cancelled.js';

export type BreakerState = 'closed' | 'half_open' | 'open';

/**
 * Why a breaker changed state: `own` by its own statistics and timers, `forced` by {@link Breaker.force}
 * (the state another gateway instance reported, see shared-breakers.ts), `pinned` by {@link Breaker.pin}
 * (an operator, through the admin API).
 */
export type BreakerChangeCause = 'own' | 'forced' | 'pinned';

/** A state an operator pinned: it holds until unpinned, whatever the calls do. */
export type PinnedState = 'open' | 'closed';

export interface BreakerSettings {
  /** false: calls pass straight through and the state stays `closed`. @default true */
  enabled: boolean;
  /** Failure percentage in the rolling window above which the breaker opens. @default 50 */
  errorThresholdPercentage: number;
  /** Length of the rolling statistics window (10 buckets). @default 10000 */
  rollingWindowMs: number;
  /** Calls the window must hold before the breaker may open. @default 10 */
  volumeThreshold: number;
  /** How long the breaker stays open before one probe is let through (half-open). @default 10000 */
  resetTimeoutMs: number;
  /** Failures in a row, weighted by the callers that waited for them, that open the breaker; 0: off. @default 0 */
  consecutiveFailures?: number | undefined;
  /** A call that takes at least this long is slow (it counts toward `slowCallRatePercentage`); 0: off. @default half the subgraph's `timeoutMs` */
  slowCallDurationMs?: number | undefined;
  /** Share of slow calls in the window (percent, weighted) at or above which the breaker opens. @default 80 */
  slowCallRatePercentage?: number | undefined;
}

/** Who waited for a call: the breaker counts its outcome once per caller (in-flight dedupe shares one call among many). */
export interface CallAudience {
  readonly callers: number;
}

export interface BreakerSnapshot {
  state: BreakerState;
  /** Failures / (failures + successes) in the rolling window, 0..1; 0 when the window is empty. */
  errorRate: number;
  /** Calls that ran (successes + failures) in the window. */
  calls: number;
  failures: number;
  /** Calls refused without running, because the breaker was open, in the window. */
  rejected: number;
  windowMs: number;
  /** Calls that took at least `slowCallDurationMs` / calls, weighted by their callers, in the policy's window (since the last state change), 0..1. */
  slowCallRate: number;
  /** Set while an operator holds the breaker in this state (`state` is then the same). */
  pinned?: PinnedState;
}

/**
 * A call refused because the breaker is open (or half-open with its probe already out, or pinned
 * open): nothing ran. While a breaker is open every call gets one, so it carries no stack trace:
 * capturing one cost more than the rest of the refusal (measured under an outage).
 */
export class BreakerOpenError extends Error {
  readonly breaker: string;
  constructor(breaker: string) {
    const stackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(`circuit breaker "${breaker}" is open`);
    Error.stackTraceLimit = stackTraceLimit;
    this.breaker = breaker;
  }
}
BreakerOpenError.prototype.name = 'BreakerOpenError';

export interface Breaker {
  readonly name: string;
  readonly state: BreakerState;
  /** The settings it runs with (those it was created with, or the last {@link reconfigure}'s). */
  readonly settings: BreakerSettings;
  /**
   * New settings for the calls from now on (a config reload); nothing happens when they are the same.
   * The counts start over in a new window; an open or half-open breaker stays open and half-opens
   * after the new `resetTimeoutMs`, counted from now; a pin holds. Calls under way finish as they started.
   */
  reconfigure(settings: BreakerSettings): void;
  /**
   * Runs `call` unless the breaker is open; its rejection counts as a failure when `isFailure` says
   * so, once per caller of `audience` (one when absent), and its duration against the slow-call rate.
   */
  run<T>(call: () => Promise<T>, audience?: CallAudience): Promise<T>;
  /**
   * The refusal {@link run} would give a call now because the breaker is open or pinned open (an
   * open one counts it in the snapshot's `rejected`, as before, a pinned one does not), or
   * undefined when a call may run (a half-open breaker's probe is left to {@link run}): lets a
   * caller skip building a call that would be refused.
   */
  refusal(): BreakerOpenError | undefined;
  snapshot(): BreakerSnapshot;
  /**
   * Moves the breaker to `open` (it then half-opens after `resetTimeoutMs`, as if it had opened
   * itself) or `closed`, reporting the change with cause `forced`. Nothing happens when the breaker
   * is disabled or already in that state.
   */
  force(state: 'open' | 'closed'): void;
  /** The state an operator pinned, or undefined: the breaker follows its own statistics. */
  readonly pinned: PinnedState | undefined;
  /**
   * Holds the breaker `open` (every call refused at once, no half-open probe) or `closed` (every
   * call runs, failures do not open it) until pinned again with undefined, when it goes back to
   * the state its own statistics say. Works on a disabled breaker too: an operator may cut a
   * dependency off in any case. Reported with cause `pinned`.
   */
  pin(state: PinnedState | undefined): void;
}

export interface BreakerRegistryOptions {
  /** Which rejections of a call count against the breaker; the others count as successes (the upstream answered). */
  isFailure: (error: unknown) => boolean;
  /** Called on every state change (after the registry's own bookkeeping); logging and metrics hook in here. */
  onStateChange?: (name: string, state: BreakerState, cause: BreakerChangeCause) => void;
  /** Called just before the breaker's own policy (consecutive failures, weighted rates, slow calls) opens it, with the rule that fired. */
  onPolicyOpen?: (name: string, verdict: PolicyVerdict) => void;
  /** Called once per breaker, right after it is created (shared state is read in here). */
  onCreate?: (breaker: Breaker) => void;
}

/**
 * One opossum circuit breaker per name. Subgraphs use their own name; a REST route may ask for the
 * breaker of the subgraph of the same service by passing that name, and both then share state.
 * Timeouts are not opossum's: callers abort their own attempts and the abort counts as a failure.
 *
 * Events (via `onStateChange`): `open` when the failure rate in the window passes the threshold
 * (or the half-open probe fails), `half_open` after `resetTimeoutMs`, `closed` when the probe succeeds;
 * each with the cause `own`, or `forced` when {@link Breaker.force} made it.
 */
export class BreakerRegistry {
  private readonly breakers = new Map<string, OpossumBreaker>();

  constructor(private readonly options: BreakerRegistryOptions) {}

  /** The breaker called `name`, created with `settings` on first use (later settings are ignored). */
  get(name: string, settings: BreakerSettings): Breaker {
    let breaker = this.breakers.get(name);
    if (!breaker) {
      breaker = new OpossumBreaker(name, settings, this.options);
      this.breakers.set(name, breaker);
      this.options.onCreate?.(breaker);
    }
    return breaker;
  }

  find(name: string): Breaker | undefined {
    return this.breakers.get(name);
  }

  /** Every breaker created so far. */
  list(): Breaker[] {
    return [...this.breakers.values()];
  }

  /** Stops every breaker's timers; they reject calls afterwards. */
  shutdown(): void {
    for (const breaker of this.breakers.values()) breaker.shutdown();
  }
}

type Call = () => Promise<unknown>;

/** What {@link OpossumBreaker.refusal} emits as opossum's `fire` and `reject` events when it refuses a call itself. */
const NO_ARGUMENTS: readonly unknown[] = [];
const OPEN_REFUSAL = Object.assign(new Error('Breaker is open'), { code: 'EOPENBREAKER' });

/** A half-open probe that answered, but slowly: opossum counts it as a failure (the breaker opens again); the caller still gets the answer. */
class SlowProbe {
  constructor(readonly result: unknown) {}
}

/**
 * opossum runs the calls, keeps its own failure rate and the open / half-open / closed timers;
 * {@link BreakerPolicy} beside it books every outcome weighted by its callers and with its duration,
 * and opens the breaker through opossum's public `open()` when one of its rules says so.
 */
class OpossumBreaker implements Breaker {
  private circuit: CircuitBreaker<[Call], unknown>;
  private policy: BreakerPolicy;
  private current: BreakerState = 'closed';
  /** True while {@link force} runs, so the change it causes is reported as `forced`. */
  private forcing = false;
  private pinnedState: PinnedState | undefined;

  constructor(
    readonly name: string,
    private active: BreakerSettings,
    private readonly options: BreakerRegistryOptions,
  ) {
    this.policy = policyOf(active);
    this.circuit = this.circuitOf(active);
  }

  get settings(): BreakerSettings {
    return this.active;
  }

  /** opossum holds its window and thresholds from its construction: new settings take a new circuit. */
  private circuitOf(settings: BreakerSettings): CircuitBreaker<[Call], unknown> {
    const circuit = new CircuitBreaker<[Call], unknown>((call: Call) => call(), {
      name: this.name,
      enabled: settings.enabled,
      timeout: false,
      errorThresholdPercentage: settings.errorThresholdPercentage,
      rollingCountTimeout: settings.rollingWindowMs,
      rollingCountBuckets: 10,
      rollingPercentilesEnabled: false,
      volumeThreshold: settings.volumeThreshold,
      resetTimeout: settings.resetTimeoutMs,
      errorFilter: (error: unknown) => !(error instanceof SlowProbe) && !this.options.isFailure(error),
    });
    const change = (state: BreakerState) => () => {
      if (circuit !== this.circuit) return;
      const before = this.current;
      this.current = state;
      if (state !== 'half_open') this.policy.reset();
      // While pinned, the reported state is the pinned one: the change shows once unpinned.
      if (!this.pinnedState && before !== state) this.options.onStateChange?.(this.name, state, this.forcing ? 'forced' : 'own');
    };
    circuit.on('open', change('open'));
    circuit.on('halfOpen', change('half_open'));
    circuit.on('close', change('closed'));
    return circuit;
  }

  reconfigure(settings: BreakerSettings): void {
    if (JSON.stringify(settings) === JSON.stringify(this.active)) return;
    const previous = this.circuit;
    const wasOpen = this.current !== 'closed';
    this.active = settings;
    this.policy = policyOf(settings);
    this.circuit = this.circuitOf(settings);
    previous.shutdown();
    if (wasOpen && settings.enabled) this.circuit.open();
    else if (wasOpen) {
      this.current = 'closed';
      if (!this.pinnedState) this.options.onStateChange?.(this.name, 'closed', 'own');
    }
  }

  get state(): BreakerState {
    return this.pinnedState ?? this.current;
  }

  get pinned(): PinnedState | undefined {
    return this.pinnedState;
  }

  pin(state: PinnedState | undefined): void {
    const before = this.state;
    this.pinnedState = state;
    if (this.state !== before || state !== undefined) this.options.onStateChange?.(this.name, this.state, 'pinned');
  }

  refusal(): BreakerOpenError | undefined {
    if (this.pinnedState === 'open') return new BreakerOpenError(this.name);
    if (this.pinnedState === 'closed' || !this.active.enabled || !this.circuit.opened) return undefined;
    // What opossum's fire() does while open, without building its error and then ours: the same
    // two events, so its counts (fires, which its error rate divides by, and rejects, the
    // snapshot's `rejected`) stay as they were. Half-open is left to fire(), which lets one probe through.
    this.circuit.emit('fire', NO_ARGUMENTS);
    this.circuit.emit('reject', OPEN_REFUSAL);
    return new BreakerOpenError(this.name);
  }

  async run<T>(call: () => Promise<T>, audience?: CallAudience): Promise<T> {
    const refused = this.refusal();
    if (refused) throw refused;
    if (this.pinnedState === 'closed') return call();
    if (!this.active.enabled) return (await this.circuit.fire(call)) as T;
    const started = Date.now();
    const action = async () => {
      // The probe of a half-open breaker must also be quick: a slow answer keeps the breaker open.
      const probe = this.circuit.halfOpen;
      const result = await call();
      if (probe && this.policy.isSlow(Date.now() - started)) throw new SlowProbe(result);
      return result;
    };
    let result: T;
    try {
      result = (await this.circuit.fire(action)) as T;
    } catch (error) {
      if (error instanceof SlowProbe) return error.result as T;
      if (CircuitBreaker.isOurError(error as Error) && (error as { code?: string }).code === 'EOPENBREAKER') {
        throw new BreakerOpenError(this.name);
      }
      // Aborted because another replica answered first (a hedge): no outcome for the policy.
      if (error instanceof AttemptCancelledError) throw error;
      this.book(this.options.isFailure(error), started, audience);
      throw error;
    }
    this.book(false, started, audience);
    return result;
  }

  /** Books an outcome with the policy while the breaker is closed, and opens it when a rule says so. */
  private book(failed: boolean, started: number, audience: CallAudience | undefined): void {
    if (!this.circuit.closed) return;
    const verdict = this.policy.record(failed, Date.now() - started, audience?.callers ?? 1);
    if (!verdict) return;
    this.options.onPolicyOpen?.(this.name, verdict);
    this.circuit.open();
  }

  snapshot(): BreakerSnapshot {
    const stats = this.circuit.stats;
    const calls = stats.successes + stats.failures;
    return {
      state: this.current,
      errorRate: calls === 0 ? 0 : Math.round((stats.failures / calls) * 1000) / 1000,
      calls,
      failures: stats.failures,
      rejected: stats.rejects,
      windowMs: this.active.rollingWindowMs,
      slowCallRate: slowRate(this.policy.totals()),
      ...(this.pinnedState && { state: this.pinnedState, pinned: this.pinnedState }),
    };
  }

  force(state: 'open' | 'closed'): void {
    if (!this.active.enabled || this.current === state) return;
    this.forcing = true;
    try {
      // opossum's open() starts its reset timer (half-open later); close() clears it.
      if (state === 'open') this.circuit.open();
      else this.circuit.close();
    } finally {
      this.forcing = false;
    }
  }

  shutdown(): void {
    this.circuit.shutdown();
  }
}

function slowRate({ calls, slow }: { calls: number; slow: number }): number {
  return calls === 0 ? 0 : Math.round((slow / calls) * 1000) / 1000;
}

/** The policy beside opossum; rules absent from the settings (a breaker built in code, not from the config) are off. */
function policyOf(settings: BreakerSettings): BreakerPolicy {
  return new BreakerPolicy({
    ...settings,
    consecutiveFailures: settings.consecutiveFailures ?? 0,
    slowCallDurationMs: settings.slowCallDurationMs ?? 0,
    slowCallRatePercentage: settings.slowCallRatePercentage ?? 100,
  });
}
