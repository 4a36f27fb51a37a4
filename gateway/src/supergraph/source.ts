import type { SupergraphSdlHook } from '@apollo/gateway';
import type { Logger } from 'pino';
import type { GatewayMetrics } from '../observability/metrics.js';
import type { SupergraphConfig } from './config.js';
import { fileSupergraphSource } from './file-source.js';
import type { SupergraphFetcher } from './fetcher.js';
import { remoteSupergraphSource } from './remote-source.js';
import type { SourceStatus } from './source-status.js';
import type { SupergraphState } from './state.js';
import { uplinkFetcher } from './uplink-fetcher.js';
import { urlFetcher } from './url-fetcher.js';

export interface SupergraphSourceOptions {
  logger: Logger;
  metrics: GatewayMetrics;
  state: SupergraphState;
  env?: NodeJS.ProcessEnv;
}

/**
 * The `supergraphSdl` hook for the configured source. Secrets (the auth header, the Uplink key) are
 * read here, when the gateway is built, so a missing one stops the start with its name.
 */
export function supergraphSource(config: SupergraphConfig, options: SupergraphSourceOptions): SupergraphSdlHook {
  const { logger, metrics, state } = options;
  const onLoaded = state.update.bind(state);
  const onReloader = state.setReloader.bind(state);
  if (config.source === 'file') {
    state.setSource({ kind: 'file', location: config.path, usingCachedCopy: false });
    return fileSupergraphSource({ ...config, logger, metrics, onLoaded, onReloader });
  }
  const fetcher = remoteFetcher(config, options.env);
  const status: SourceStatus = {
    kind: fetcher.kind,
    location: fetcher.location,
    usingCachedCopy: false,
    ...(config.cacheFile ? { cacheFile: config.cacheFile } : {}),
  };
  state.setSource(status);
  const pollIntervalMs = config.source === 'url' ? (config.url?.pollIntervalMs ?? 10_000) : config.uplink.pollIntervalMs;
  return remoteSupergraphSource({ fetcher, pollIntervalMs, cacheFile: config.cacheFile, logger, metrics, status, onLoaded, onReloader });
}

function remoteFetcher(config: SupergraphConfig, env: NodeJS.ProcessEnv | undefined): SupergraphFetcher {
  if (config.source === 'uplink') return uplinkFetcher(config.uplink, config.maxBytes, env);
  if (!config.url) throw new Error('supergraph.url: the url source needs supergraph.url.url');
  return urlFetcher(config.url, config.maxBytes, env);
}
