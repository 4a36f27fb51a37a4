import { createHash } from 'node:crypto';
import { readFileSync, unwatchFile, watchFile, type Stats } from 'node:fs';
import type { SupergraphSdlHook } from '@apollo/gateway';
import type { Logger } from 'pino';
import type { GatewayMetrics } from '../observability/metrics.js';
import { withEnforcedSecurityLinksUnmarked } from './security-links.js';

export interface LoadedSupergraph {
  sdl: string;
  /** sha256 of the SDL, hex. */
  id: string;
  loadedAt: Date;
}

export interface FileSupergraphOptions {
  path: string;
  watch: boolean;
  pollIntervalMs: number;
  logger: Logger;
  metrics: GatewayMetrics;
  /** Called after a supergraph was accepted by the gateway (first load and every reload). */
  onLoaded(supergraph: LoadedSupergraph): void;
  /** Handed the function that reloads the file now (the admin API's reload), once the first load is done. */
  onReloader?(reload: () => ReloadOutcome): void;
}

/** What a reload asked for now did: `failed` keeps the previous supergraph serving. */
export type ReloadOutcome = { result: 'reloaded' | 'unchanged'; id: string } | { result: 'failed'; id: string; error: string };

/**
 * A `supergraphSdl` hook for `@apollo/gateway` that serves a file and reloads it when it changes.
 *
 * The file is polled (`fs.watchFile`) rather than watched with inotify: polling survives editors'
 * atomic renames and Kubernetes ConfigMap symlink swaps, which `fs.watch` loses track of. A changed
 * file goes through the gateway's `update`, which builds the new schema and query planner before
 * switching; if that throws, the old supergraph keeps serving and the failure is logged and counted.
 * In-flight requests finish on the plan they started with.
 */
export function fileSupergraphSource(options: FileSupergraphOptions): SupergraphSdlHook {
  return async ({ update }) => {
    const initial = readSupergraph(options.path);
    // The security links the gateway enforces itself lose `for: SECURITY` (see security-links.ts).
    const initialSdl = withEnforcedSecurityLinksUnmarked(initial.sdl);
    let currentId = initial.id;
    options.onLoaded(initial);

    const rejected = (error: unknown): ReloadOutcome => {
      const message = error instanceof Error ? error.message : String(error);
      options.metrics.supergraphReloads.inc({ result: 'failure' });
      options.logger.error({ path: options.path, err: message }, 'supergraph reload failed; the previous supergraph keeps serving');
      return { result: 'failed', id: currentId, error: message };
    };
    const reload = (): ReloadOutcome => {
      let next: LoadedSupergraph;
      try {
        next = readSupergraph(options.path);
      } catch (error) {
        return rejected(error);
      }
      if (next.id === currentId) return { result: 'unchanged', id: currentId };
      try {
        update(withEnforcedSecurityLinksUnmarked(next.sdl));
      } catch (error) {
        return rejected(error);
      }
      currentId = next.id;
      options.metrics.supergraphReloads.inc({ result: 'success' });
      options.logger.info({ supergraphId: next.id.slice(0, 12), path: options.path }, 'supergraph reloaded');
      options.onLoaded(next);
      return { result: 'reloaded', id: currentId };
    };
    options.onReloader?.(reload);

    if (!options.watch) return { supergraphSdl: initialSdl };

    const onChange = (current: Stats, previous: Stats) => {
      if (current.mtimeMs === previous.mtimeMs && current.size === previous.size) return;
      reload();
    };

    watchFile(options.path, { interval: options.pollIntervalMs, persistent: false }, onChange);
    return {
      supergraphSdl: initialSdl,
      cleanup: async () => unwatchFile(options.path, onChange),
    };
  };
}

export function readSupergraph(path: string): LoadedSupergraph {
  const sdl = readFileSync(path, 'utf8');
  if (!sdl.trim()) throw new Error(`supergraph file ${path} is empty`);
  return { sdl, id: createHash('sha256').update(sdl).digest('hex'), loadedAt: new Date() };
}
