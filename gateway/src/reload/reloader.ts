import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import { changeTouches, coversKey, RestartRequiredError, type FeatureReloader, type ReloadCommit } from '../feature.js';
import { changedKeys, configHash } from './changes.js';

/** What asked for a reload. */
export type ReloadTrigger = 'signal' | 'admin' | 'file' | 'api';

/**
 * - `applied`: the new config serves;
 * - `unchanged`: the file says what already serves (nothing to do);
 * - `invalid`: the file cannot be read or does not validate;
 * - `refused`: it changes a key that only a restart applies;
 * - `failed`: a feature could not prepare the change (a file it names is missing or broken, ...).
 *
 * In every case but `applied`, what served before serves on, untouched.
 */
export type ReloadResult = 'applied' | 'unchanged' | 'invalid' | 'refused' | 'failed';

export interface ReloadOutcome {
  result: ReloadResult;
  trigger: ReloadTrigger;
  /** The version serving after this reload (the new one when applied). */
  version: string;
  /** Keys whose values differ from the running config (paths only, never values). */
  changed: string[];
  /** The changed keys only a restart applies (`refused`). */
  restartRequired?: string[];
  /** Why it was not applied. */
  error?: string;
  /** Refused because the gateway is shutting down. */
  shuttingDown?: true;
}

/** The config serving now: its hash (the first 12 hex digits are its version), when it was loaded, how many reloads applied. */
export interface ConfigVersion {
  version: string;
  hash: string;
  loadedAt: Date;
  /** 0 for the config the gateway started with, then one more per applied reload. */
  generation: number;
}

export interface ConfigReloaderOptions<Config> {
  initial: Config;
  /** Reads the config again, from the same file and environment, through the same schema; throws when invalid. */
  load: (() => Config) | undefined;
  /** Every feature's part, in the list's order (complete once the features are set up). */
  reloaders: readonly FeatureReloader[];
  logger: Logger;
  registry: Registry;
  /** Runs once a new config is committed. */
  onApplied?: (next: Config) => void;
  /** True once the gateway shuts down: a reload then (a SIGHUP, a queued call) changes nothing. */
  shuttingDown?: () => boolean;
}

/**
 * The all-or-nothing config reload: read and validate, refuse keys no feature takes live, let every
 * feature prepare, then commit all of them in one synchronous step (no request runs between two
 * commits). Reloads run one at a time; one asked for while another runs waits for it.
 */
export class ConfigReloader<Config> {
  private current: Config;
  private version: ConfigVersion;
  private last: (ReloadOutcome & { at: Date }) | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly counter: Counter<'result'>;
  private readonly loadedAt: Gauge;

  constructor(private readonly options: ConfigReloaderOptions<Config>) {
    this.current = options.initial;
    this.version = versionOf(options.initial, 0);
    this.counter = new Counter({
      name: 'gateway_config_reloads_total',
      help: 'Config reloads, by result: applied, unchanged, invalid, refused (a key needs a restart, or the gateway is shutting down), failed (a feature could not prepare).',
      labelNames: ['result'],
      registers: [options.registry],
    });
    this.loadedAt = new Gauge({
      name: 'gateway_config_loaded_timestamp_seconds',
      help: 'When the config serving now was loaded (start-up or the last applied reload), in Unix seconds.',
      registers: [options.registry],
    });
    this.loadedAt.set(this.version.loadedAt.getTime() / 1000);
  }

  get config(): Config {
    return this.current;
  }

  get served(): ConfigVersion {
    return this.version;
  }

  get lastReload(): (ReloadOutcome & { at: Date }) | undefined {
    return this.last;
  }

  /** Every key some feature takes live. */
  get liveKeys(): string[] {
    return this.options.reloaders.flatMap((reloader) => reloader.keys);
  }

  reload(trigger: ReloadTrigger): Promise<ReloadOutcome> {
    const run = this.queue.then(() => this.reloadNow(trigger));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async reloadNow(trigger: ReloadTrigger): Promise<ReloadOutcome> {
    const outcome = await this.attempt(trigger);
    this.last = { ...outcome, at: new Date() };
    this.counter.inc({ result: outcome.result });
    const { logger } = this.options;
    const line = { trigger, result: outcome.result, version: outcome.version, changed: outcome.changed };
    if (outcome.result === 'applied') logger.info(line, 'config reloaded');
    else if (outcome.result === 'unchanged') logger.info(line, 'config reload: nothing changed');
    else logger.error({ ...line, restartRequired: outcome.restartRequired, err: outcome.error }, 'config reload not applied');
    return outcome;
  }

  private async attempt(trigger: ReloadTrigger): Promise<ReloadOutcome> {
    const base = { trigger, version: this.version.version };
    // Features are closing or closed: preparing one now would restart what shutdown just stopped.
    if (this.options.shuttingDown?.())
      return { ...base, result: 'refused', changed: [], shuttingDown: true, error: 'the gateway is shutting down' };
    if (!this.options.load) return { ...base, result: 'invalid', changed: [], error: 'this gateway was started without a config source' };
    let next: Config;
    try {
      next = this.options.load();
    } catch (error) {
      return { ...base, result: 'invalid', changed: [], error: messageOf(error) };
    }
    const changed = changedKeys(this.current, next);
    const live = this.liveKeys;
    const restartRequired = changed.filter((key) => !coversKey(live, key));
    if (restartRequired.length > 0) {
      return {
        ...base,
        result: 'refused',
        changed,
        restartRequired,
        error: `only a restart applies ${restartRequired.join(', ')}: nothing of this change was applied`,
      };
    }
    const commits: ReloadCommit[] = [];
    for (const reloader of this.options.reloaders) {
      if (!reloader.prepare || !(reloader.every || changeTouches(changed, reloader.keys))) continue;
      try {
        const commit = await reloader.prepare({ next, changed });
        if (commit) commits.push(commit);
      } catch (error) {
        for (const prepared of commits) prepared.abort?.();
        if (error instanceof RestartRequiredError) {
          return { ...base, result: 'refused', changed, restartRequired: [...error.keys], error: `${reloader.feature}: ${error.message}` };
        }
        return { ...base, result: 'failed', changed, error: `${reloader.feature}: ${messageOf(error)}` };
      }
    }
    if (changed.length === 0 && commits.length === 0) return { ...base, result: 'unchanged', changed };
    // One synchronous step: no request runs between the first commit and the last.
    for (const commit of commits) commit.commit();
    this.current = next;
    this.version = versionOf(next, this.version.generation + 1);
    this.loadedAt.set(this.version.loadedAt.getTime() / 1000);
    this.options.onApplied?.(next);
    return { ...base, result: 'applied', changed, version: this.version.version };
  }
}

function versionOf(config: unknown, generation: number): ConfigVersion {
  const hash = configHash(config);
  return { version: hash.slice(0, 12), hash, loadedAt: new Date(), generation };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
