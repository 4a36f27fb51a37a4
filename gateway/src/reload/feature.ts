import { unwatchFile, watchFile, type Stats } from 'node:fs';
import type { Logger } from 'pino';
import type { Feature, GatewayPhase } from '../feature.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import type { ReloadConfig } from './config.js';
import { ConfigReloader } from './reloader.js';

declare module '../feature.js' {
  interface FeatureServices {
    /** The config serving now, its version, and the all-or-nothing reload (SIGHUP, the admin API, the file watch). */
    configReload: ConfigReloader<unknown>;
  }
}

/** Where the config comes from: the file (watched when `reload.watch`) and how to read it again with the environment. */
export interface ConfigSource {
  file?: string | undefined;
  /** Reads and validates the config as at start-up (file, then environment); throws a ConfigError when invalid. */
  load(): unknown;
}

interface ReloadShared {
  logger: Logger;
  metrics: GatewayMetrics;
  configSource: ConfigSource | undefined;
  phase: () => GatewayPhase;
}

/**
 * Config reloads: the reloader (see reloader.ts) over every feature's `prepareReload`, the config's
 * version in the log, on `/ready` and in `gateway_config_loaded_timestamp_seconds`, and the file
 * watch (`reload.watch`). SIGHUP is main.ts's, the admin action the admin API's; both call this.
 */
export const configReloadFeature: Feature<{ reload: ReloadConfig }, ReloadShared> = {
  name: 'config',
  after: ['observability'],
  reloads: ['reload'],
  setup({ config, shared, contributions }) {
    const logger = shared.logger.child({ component: 'config' });
    const source = shared.configSource;
    let watching: ReloadConfig = config.reload;
    const reloader = new ConfigReloader<unknown>({
      initial: config,
      load: source && (() => source.load()),
      reloaders: contributions.reloaders,
      logger,
      registry: shared.metrics.registry,
      shuttingDown: () => shared.phase() === 'draining' || shared.phase() === 'stopped',
    });
    logger.info({ version: reloader.served.version, file: source?.file ?? null }, 'config loaded');

    const onChange = (current: Stats, previous: Stats) => {
      if (current.mtimeMs === previous.mtimeMs && current.size === previous.size) return;
      void reloader.reload('file');
    };
    const watch = (settings: ReloadConfig) => {
      if (source?.file) unwatchFile(source.file, onChange);
      watching = settings;
      if (settings.watch && source?.file) watchFile(source.file, { interval: settings.watchIntervalMs, persistent: false }, onChange);
    };
    watch(config.reload);

    return {
      provides: { configReload: reloader },
      readiness: () => {
        const served = reloader.served;
        const last = reloader.lastReload;
        return {
          config: {
            version: served.version,
            hash: served.hash,
            loadedAt: served.loadedAt.toISOString(),
            generation: served.generation,
            watch: watching.watch,
            lastReload: last
              ? { result: last.result, trigger: last.trigger, at: last.at.toISOString(), changed: last.changed, error: last.error ?? null }
              : null,
          },
        };
      },
      prepareReload({ next }) {
        const settings = next.reload;
        if (settings.watch === watching.watch && settings.watchIntervalMs === watching.watchIntervalMs) return undefined;
        return { commit: () => watch(settings) };
      },
      close() {
        if (source?.file) unwatchFile(source.file, onChange);
      },
    };
  },
};
