import { createHash } from 'node:crypto';
import type { SupergraphSdlHook, SupergraphSdlUpdateFunction } from '@apollo/gateway';
import type { Logger } from 'pino';
import { GatewayError } from '../errors.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import { apiSchemaFromSupergraph } from './api-schema.js';
import { readDiskCopy, writeDiskCopy } from './disk-copy.js';
import type { LoadedSupergraph, ReloadOutcome } from './file-source.js';
import type { SourceVersion, SupergraphFetcher } from './fetcher.js';
import { withEnforcedSecurityLinksUnmarked } from './security-links.js';
import type { SourceStatus } from './source-status.js';

export interface RemoteSupergraphOptions {
  fetcher: SupergraphFetcher;
  pollIntervalMs: number;
  cacheFile: string | undefined;
  logger: Logger;
  metrics: GatewayMetrics;
  /** Kept up to date by the source; `/ready` reads it. */
  status: SourceStatus;
  /** Called after a supergraph was accepted by the gateway (first load and every update). */
  onLoaded(supergraph: LoadedSupergraph): void;
  /** Handed the function that fetches now (the admin API's reload), once the first load is done. */
  onReloader?(reload: () => Promise<ReloadOutcome>): void;
}

/**
 * A `supergraphSdl` hook for `@apollo/gateway` that fetches the supergraph from a remote source and
 * polls it. A new supergraph goes through the gateway's `update`, which builds the schema and query
 * planner before switching: one that fails is refused, logged and counted, and the last good one keeps
 * serving. Each accepted supergraph is written to `cacheFile`, which is served at start when the
 * source cannot be reached, so a restart during a registry outage still starts.
 */
export function remoteSupergraphSource(options: RemoteSupergraphOptions): SupergraphSdlHook {
  return async ({ update }) => {
    const source = new RemoteSupergraph(options, update);
    const { supergraphSdl, nextFetchInMs } = await source.initial();
    options.onReloader?.(() => source.fetchNow());
    source.schedule(nextFetchInMs);
    return { supergraphSdl, cleanup: async () => source.stop() };
  };
}

const sha256 = (sdl: string) => createHash('sha256').update(sdl).digest('hex');
const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

class RemoteSupergraph {
  private version: SourceVersion | undefined;
  /** The source's latest supergraph was refused (the served one is older, or the copy from disk). */
  private sourceRejected = false;
  private currentId = '';
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> = Promise.resolve();
  private readonly abort = new AbortController();
  private stopped = false;
  private readonly log: Logger;

  constructor(
    private readonly options: RemoteSupergraphOptions,
    private readonly update: SupergraphSdlUpdateFunction | undefined,
  ) {
    this.log = options.logger.child({ source: options.fetcher.kind, location: options.fetcher.location });
  }

  /** The first supergraph: from the source, else the copy on disk, else the gateway does not start. */
  async initial(): Promise<{ supergraphSdl: string; nextFetchInMs: number }> {
    const { status, metrics, fetcher, pollIntervalMs } = this.options;
    let reason: string;
    let fetched = false;
    try {
      status.lastFetchAt = new Date().toISOString();
      const outcome = await fetcher.fetch(undefined, this.abort.signal);
      if (outcome.result !== 'updated') throw new Error('the source answered "unchanged" to a first fetch');
      fetched = true;
      // Kept even if it is refused: the source is not asked for the same refused supergraph again.
      this.version = outcome.version;
      const supergraphSdl = withEnforcedSecurityLinksUnmarked(outcome.sdl);
      apiSchemaFromSupergraph(outcome.sdl);
      this.accepted(outcome.sdl, 'fetched');
      return { supergraphSdl, nextFetchInMs: Math.max(pollIntervalMs, outcome.minDelayMs ?? 0) };
    } catch (error) {
      reason = messageOf(error);
      metrics.supergraphFetches.inc({ source: fetcher.kind, result: fetched ? 'rejected' : 'error' });
      this.sourceRejected = fetched;
      status.lastError = { at: new Date().toISOString(), message: reason };
    }
    const copy = this.options.cacheFile ? readDiskCopy(this.options.cacheFile) : undefined;
    if (!copy) {
      const message = this.options.cacheFile
        ? `the supergraph source failed (${reason}) and there is no last good copy at ${this.options.cacheFile}`
        : `the supergraph source failed (${reason}) and supergraph.cacheFile is not set`;
      this.log.error(
        { code: 'SUPERGRAPH_SOURCE_UNAVAILABLE', err: reason, cacheFile: this.options.cacheFile ?? null },
        'supergraph source failed at start and there is no last good copy on disk: the gateway cannot start',
      );
      throw new GatewayError('SUPERGRAPH_SOURCE_UNAVAILABLE', message);
    }
    const supergraphSdl = withEnforcedSecurityLinksUnmarked(copy.sdl);
    apiSchemaFromSupergraph(copy.sdl);
    status.usingCachedCopy = true;
    this.currentId = sha256(copy.sdl);
    this.options.onLoaded({ sdl: copy.sdl, id: this.currentId, loadedAt: new Date() });
    this.log.warn(
      { err: reason, cacheFile: this.options.cacheFile, savedAt: copy.savedAt.toISOString(), supergraphId: this.currentId.slice(0, 12) },
      'supergraph source failed at start: serving the last good copy from disk until it answers',
    );
    return { supergraphSdl, nextFetchInMs: pollIntervalMs };
  }

  schedule(delayMs: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.fetchNow(), delayMs);
    this.timer.unref();
  }

  /** Fetches now (one fetch at a time), applies what it brings, and schedules the next fetch. */
  fetchNow(): Promise<ReloadOutcome> {
    clearTimeout(this.timer);
    const next = this.running.then(() => this.poll());
    this.running = next.catch(() => undefined);
    return next;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.abort.abort();
  }

  private async poll(): Promise<ReloadOutcome> {
    const { fetcher, status, metrics } = this.options;
    let delayMs = this.options.pollIntervalMs;
    try {
      status.lastFetchAt = new Date().toISOString();
      const outcome = await fetcher.fetch(this.version, this.abort.signal);
      if (outcome.minDelayMs !== undefined) delayMs = Math.max(delayMs, outcome.minDelayMs);
      if (outcome.version) this.version = outcome.version;
      if (outcome.result === 'unchanged' || sha256(outcome.sdl) === this.currentId) {
        metrics.supergraphFetches.inc({ source: fetcher.kind, result: 'unchanged' });
        // "Unchanged" may refer to a supergraph that was refused; a body equal to the served one confirms it.
        const confirmsServed = outcome.result === 'updated';
        if (confirmsServed) this.sourceRejected = false;
        this.succeeded(confirmsServed);
        return { result: 'unchanged', id: this.currentId };
      }
      return this.apply(outcome.sdl);
    } catch (error) {
      // Shutting down aborted the fetch: nothing failed.
      if (this.stopped) return { result: 'unchanged', id: this.currentId };
      return this.failed(error, 'error');
    } finally {
      this.schedule(delayMs);
    }
  }

  private apply(sdl: string): ReloadOutcome {
    const { metrics } = this.options;
    try {
      this.update?.(withEnforcedSecurityLinksUnmarked(sdl));
    } catch (error) {
      metrics.supergraphReloads.inc({ result: 'failure' });
      // The same refused supergraph comes back on every poll when the source has no validators: log it once.
      const again = this.options.status.lastError?.message === messageOf(error);
      this.log[again ? 'debug' : 'error'](
        { err: messageOf(error) },
        'supergraph from the source refused; the previous supergraph keeps serving',
      );
      return this.failed(error, 'rejected');
    }
    metrics.supergraphReloads.inc({ result: 'success' });
    this.accepted(sdl, 'updated');
    this.log.info({ supergraphId: this.currentId.slice(0, 12), version: this.version }, 'supergraph updated from its source');
    return { result: 'reloaded', id: this.currentId };
  }

  /** A supergraph from the source is served now: remember it, tell the state, keep a copy on disk. */
  private accepted(sdl: string, how: 'fetched' | 'updated'): void {
    const { fetcher, metrics, status, cacheFile } = this.options;
    this.currentId = sha256(sdl);
    this.sourceRejected = false;
    const now = new Date();
    metrics.supergraphFetches.inc({ source: fetcher.kind, result: 'updated' });
    metrics.supergraphLastUpdate.set(now.getTime() / 1000);
    status.lastUpdateAt = now.toISOString();
    this.succeeded(true);
    this.options.onLoaded({ sdl, id: this.currentId, loadedAt: now });
    if (how === 'fetched')
      this.log.info({ supergraphId: this.currentId.slice(0, 12), version: this.version }, 'supergraph fetched from its source');
    if (!cacheFile) return;
    try {
      writeDiskCopy(cacheFile, sdl);
    } catch (error) {
      this.log.warn({ cacheFile, err: messageOf(error) }, 'could not write the last good supergraph to disk');
    }
  }

  /** The source answered; `confirmsServed`: with the supergraph served now (not one it sent before that was refused). */
  private succeeded(confirmsServed: boolean): void {
    const { status, metrics } = this.options;
    const now = new Date();
    status.lastSuccessAt = now.toISOString();
    if (this.version) status.version = this.version;
    metrics.supergraphLastFetchSuccess.set(now.getTime() / 1000);
    if (this.sourceRejected) return;
    delete status.lastError;
    if (confirmsServed && status.usingCachedCopy) this.log.info('supergraph source answers again: no longer serving the copy from disk');
    if (confirmsServed) status.usingCachedCopy = false;
  }

  private failed(error: unknown, result: 'error' | 'rejected'): ReloadOutcome {
    const { fetcher, status, metrics } = this.options;
    const message = messageOf(error);
    metrics.supergraphFetches.inc({ source: fetcher.kind, result });
    // A source that stays down would log the same line every poll: once at warn, then at debug.
    if (result === 'error')
      this.log[status.lastError?.message === message ? 'debug' : 'warn'](
        { err: message },
        'supergraph fetch failed; the current supergraph keeps serving',
      );
    status.lastError = { at: new Date().toISOString(), message };
    if (result === 'rejected') this.sourceRejected = true;
    if (result === 'rejected' && this.version) status.version = this.version;
    return { result: 'failed', id: this.currentId, error: message };
  }
}
