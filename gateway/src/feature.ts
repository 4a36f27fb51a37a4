import type { ApolloServer, ApolloServerPlugin } from '@apollo/server';
import type { Attributes } from '@opentelemetry/api';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { GatewayContext } from './context.js';

/**
 * The contract between the composition root (server.ts) and a feature. It imports no feature, so
 * every feature may import it: a feature states the config slices and shared services it needs as
 * structural types of its own, and the root hands it the whole config and the shared services.
 */

export type GatewayPhase = 'starting' | 'ready' | 'draining' | 'stopped';

/**
 * Services a feature hands to the features after it, by name. Each feature declares its own by
 * declaration merging (`declare module '../feature.js' { interface FeatureServices { ... } }`).
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- filled by declaration merging
export interface FeatureServices {}

/** What a feature adds to one request's log line and to its span, once the answer is sent. */
export interface RequestDescription {
  log?: Record<string, unknown> | undefined;
  span?: Attributes | undefined;
}

export type RequestDescriber = (request: FastifyRequest, reply: FastifyReply) => RequestDescription | undefined;

/** Whether a config key is one that `keys` (a feature's `reloads`) covers: a key covers itself and everything below it; `*` is any one segment. */
export function coversKey(keys: readonly string[], changed: string): boolean {
  const segments = changed.split('.');
  return keys.some((key) => {
    const parts = key.split('.');
    return parts.length <= segments.length && parts.every((part, index) => part === '*' || part === segments[index]);
  });
}

/** Whether a reload's changed keys touch any of `keys` (a change of a whole list or section touches the keys below it). */
export function changeTouches(changed: readonly string[], keys: readonly string[]): boolean {
  return changed.some((path) => coversKey(keys, path) || keys.some((key) => coversKey([path], key)));
}

/** Thrown by a `prepareReload` when a change can only be applied by a restart (e.g. turning on what was off at start); the reload is refused. */
export class RestartRequiredError extends Error {
  constructor(
    readonly keys: readonly string[],
    message: string,
  ) {
    super(message);
    this.name = 'RestartRequiredError';
  }
}

/** A change a feature prepared for a config reload: `commit` applies it and must not fail; `abort` drops it (another feature failed). */
export interface ReloadCommit {
  commit(): void;
  abort?(): void;
}

/** The config a reload would apply, and the keys that differ from the running one (`rest.routes.0.upstream`, ...). */
export interface ReloadRequest<Config> {
  next: Config;
  changed: readonly string[];
}

/** What a feature contributes; every part is optional. */
export interface FeatureContribution<Config = never> {
  /** Registers the feature's hooks and routes; called in the list's order, so hooks run in that order. */
  register?(app: FastifyInstance): void;
  /** Apollo Server plugins; Apollo runs them in the list's order. */
  apolloPlugins?: ApolloServerPlugin<GatewayContext>[];
  /** The feature's part of the readiness detail. */
  readiness?(): Record<string, unknown>;
  /** The feature's part of the liveness answer (information, never a verdict). */
  health?(): Record<string, unknown>;
  /** Fields for the request's log line and span. */
  describe?: RequestDescriber;
  /** Runs before the server listens (e.g. loads an SDK that must be in place before the first request). */
  beforeListen?(): Promise<void>;
  /** Runs once Apollo Server has started with the first supergraph. */
  afterLoad?(apollo: ApolloServer<GatewayContext>): void;
  /** Runs on shutdown after in-flight requests finished, in the reverse of the list's order. */
  close?(): Promise<void> | void;
  /**
   * First phase of a config reload: builds everything the new config needs (tiers, compiled routes,
   * header rules, files it names) without touching what serves now, and throws when it cannot.
   * The second phase, `commit`, runs only once every feature prepared without error, for all of
   * them at once. Undefined: nothing of this feature changes. Only keys the feature lists in
   * `Feature.reloads` ever change here; a change to any other key refuses the reload before this runs.
   * Runs only when the change touches one of those keys, unless the feature sets `reloadEvery`.
   */
  prepareReload?(reload: ReloadRequest<Config>): ReloadCommit | undefined | Promise<ReloadCommit | undefined>;
}

/** One feature's part in a config reload (see {@link Feature.reloads} and {@link FeatureContribution.prepareReload}). */
export interface FeatureReloader {
  readonly feature: string;
  readonly keys: readonly string[];
  readonly every: boolean;
  prepare?(reload: ReloadRequest<unknown>): ReloadCommit | undefined | Promise<ReloadCommit | undefined>;
}

/** What a feature reads at request time from every other feature's contribution. */
export interface FeatureContributions {
  readonly describers: readonly RequestDescriber[];
  readonly readiness: readonly (() => Record<string, unknown>)[];
  readonly health: readonly (() => Record<string, unknown>)[];
  /** Every feature that takes config changes live, in the list's order. */
  readonly reloaders: readonly FeatureReloader[];
}

export interface FeatureSetup<Config, Shared> {
  config: Config;
  shared: Shared;
  /** The services earlier features provided. */
  services: ServiceRegistry;
  /** Filled while the features are set up; complete before the first request. */
  contributions: FeatureContributions;
}

export interface Feature<Config = never, Shared = never> {
  /** Unique; named by other features' `after`. */
  readonly name: string;
  /** Features that must come before this one in the list (their services, hooks or plugins run first). */
  readonly after?: readonly string[];
  /**
   * Config keys this feature takes live on a reload (dot paths; a key covers everything below it,
   * `*` stands for any one segment). A reload that changes a key no feature lists is refused.
   */
  readonly reloads?: readonly string[];
  /** Prepare on every reload, whether its keys changed or not: it reads a file the config names, which may have changed alone. */
  readonly reloadEvery?: boolean;
  setup(setup: FeatureSetup<Config, Shared>): FeatureContribution<Config> & { provides?: Partial<FeatureServices> };
}

/** The services provided so far; asking for one that no earlier feature provided is a clear error. */
export class ServiceRegistry {
  private readonly services = new Map<string, { value: unknown; by: string }>();

  provide(by: string, services: Partial<FeatureServices>): void {
    for (const [name, value] of Object.entries(services)) {
      const earlier = this.services.get(name);
      if (earlier) throw new Error(`features "${earlier.by}" and "${by}" both provide the service "${name}"`);
      this.services.set(name, { value, by });
    }
  }

  get<K extends keyof FeatureServices>(name: K): FeatureServices[K] {
    const entry = this.services.get(name as string);
    if (!entry) throw new Error(`no feature before this one provides the service "${String(name)}": check the order in features.ts`);
    return entry.value as FeatureServices[K];
  }
}

/** Throws when a feature is listed twice, or before a feature it must run after (or one that is not listed). */
export function checkFeatureOrder(features: readonly Pick<Feature, 'name' | 'after'>[]): void {
  const seen = new Set<string>();
  const listed = new Set(features.map((feature) => feature.name));
  for (const feature of features) {
    if (seen.has(feature.name)) throw new Error(`feature "${feature.name}" is listed twice in features.ts`);
    for (const before of feature.after ?? []) {
      if (!listed.has(before)) throw new Error(`feature "${feature.name}" must run after "${before}", which is not in features.ts`);
      if (!seen.has(before)) throw new Error(`feature "${feature.name}" must run after "${before}", but features.ts lists it before`);
    }
    seen.add(feature.name);
  }
}

/** The features, set up in the list's order, with what each contributed. */
export interface SetUpFeatures<Config = never> {
  readonly services: ServiceRegistry;
  /** Each feature's contribution, in the list's order. */
  readonly contributions: readonly (FeatureContribution<Config> & { name: string })[];
  readonly apolloPlugins: ApolloServerPlugin<GatewayContext>[];
  /** Closes every feature set up so far, in the reverse of the list's order; a failure is logged by `onError`, not thrown. */
  close(onError: (feature: string, error: unknown) => void): Promise<void>;
}

/**
 * Checks the order, then sets every feature up in turn. When one throws, those already set up are
 * closed (without waiting) before the error is passed on, so a broken file or config leaves nothing running.
 */
export function setupFeatures<Config, Shared>(
  features: readonly Feature<Config, Shared>[],
  config: Config,
  shared: Shared,
): SetUpFeatures<Config> {
  checkFeatureOrder(features);
  const services = new ServiceRegistry();
  const describers: RequestDescriber[] = [];
  const readiness: (() => Record<string, unknown>)[] = [];
  const health: (() => Record<string, unknown>)[] = [];
  const reloaders: FeatureReloader[] = [];
  const contributions: (FeatureContribution<Config> & { name: string })[] = [];
  const set: SetUpFeatures<Config> = {
    services,
    contributions,
    get apolloPlugins() {
      return contributions.flatMap((contribution) => contribution.apolloPlugins ?? []);
    },
    async close(onError) {
      for (const contribution of [...contributions].reverse()) {
        try {
          await contribution.close?.();
        } catch (error) {
          onError(contribution.name, error);
        }
      }
    },
  };
  for (const feature of features) {
    let contribution: ReturnType<Feature<Config, Shared>['setup']>;
    try {
      contribution = feature.setup({ config, shared, services, contributions: { describers, readiness, health, reloaders } });
    } catch (error) {
      void set.close(() => undefined);
      throw error;
    }
    if (contribution.provides) services.provide(feature.name, contribution.provides);
    contributions.push({ ...contribution, name: feature.name });
    if (contribution.describe) describers.push(contribution.describe);
    if (contribution.readiness) readiness.push(contribution.readiness.bind(contribution));
    if (contribution.health) health.push(contribution.health.bind(contribution));
    if (feature.reloads) {
      const prepare = contribution.prepareReload?.bind(contribution);
      reloaders.push({
        feature: feature.name,
        keys: feature.reloads,
        every: feature.reloadEvery ?? false,
        prepare: prepare && ((reload) => prepare(reload as ReloadRequest<Config>)),
      });
    }
  }
  return set;
}
