import { Cluster, Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { RedisConfig } from './config.js';

/**
 * The gateway's Redis connection: one server (`Redis`) or a Redis Cluster (`Cluster`). Every store
 * takes this type. Both run the same commands, `defineCommand` scripts (EVALSHA) and `multi()`, as
 * long as each command's keys share one hash slot: every key the gateway writes carries a hash tag
 * (`{client}`, `{apikeys}`, `{<breaker>}`, ...) for that, see README "Scaling out".
 */
export type RedisClient = Redis | Cluster;

export interface RedisOptions {
  /** One server, `redis://` or `rediss://`. Exactly one of `url` and `clusterNodes` is set. */
  url?: string | undefined;
  /** Seed nodes of a Redis Cluster; the client discovers the others from them. */
  clusterNodes?: readonly string[] | undefined;
  connectTimeoutMs: number;
  commandTimeoutMs: number;
  keyPrefix: string;
  /** Shown by `CLIENT LIST`, so operators can tell gateway instances apart. */
  connectionName: string;
}

/** What the gateway's config says about Redis, reduced to "is there one". */
export function redisConfigured(redis: Pick<RedisConfig, 'url' | 'cluster'>): boolean {
  return redis.url !== undefined || (redis.cluster?.nodes.length ?? 0) > 0;
}

const reconnectDelay = (attempt: number) => Math.min(attempt * 200, 5_000);

/**
 * The gateway's one Redis connection. It connects in the background and never blocks start-up or
 * a request: commands fail fast while it is down (no offline queue), and ioredis reconnects with a
 * capped back-off. Callers decide what a failure means (fail open or closed).
 *
 * On a cluster the same rules hold: no offline queue (a command while the cluster is unreachable,
 * or before the slot map is known, fails at once), the same command timeout per node connection,
 * one retry, and `MOVED`/`ASK` redirections followed by ioredis. A node that fails over makes the
 * commands for its slots fail until a replica takes over and the slot map is refreshed; with no
 * replica, those slots stay failed (the cluster reports `CLUSTERDOWN`) and callers apply their
 * failure policy, as they do when a single server is down.
 */
export function createRedis(options: RedisOptions, logger: Logger): RedisClient {
  const where = describeRedis(options);
  const client = options.clusterNodes?.length ? createCluster(options, options.clusterNodes) : createStandalone(options);
  let wasReady = false;
  client.on('ready', () => {
    wasReady = true;
    logger.info({ redis: where }, 'redis connected');
  });
  client.on('error', (error: Error) => {
    if (wasReady) logger.warn({ err: error.message }, 'redis connection error');
  });
  client.on('end', () => (wasReady = false));
  client.connect().catch((error: Error) => {
    logger.warn({ redis: where, err: error.message }, 'redis not reachable yet; retrying in the background');
  });
  return client;
}

function createStandalone(options: RedisOptions): Redis {
  if (!options.url) throw new Error('createRedis needs a url or cluster nodes');
  return new Redis(options.url, {
    lazyConnect: true,
    connectTimeout: options.connectTimeoutMs,
    commandTimeout: options.commandTimeoutMs,
    keyPrefix: options.keyPrefix,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    connectionName: options.connectionName,
    retryStrategy: reconnectDelay,
    // Commands issued in the same tick (the budget charges, refunds and fallback-cache writes of
    // concurrent requests) leave in one write. Not on a cluster: ioredis picks an auto-pipeline's
    // node from the first argument, which for EVALSHA (the budget script) is not a key.
    enableAutoPipelining: true,
  });
}

function createCluster(options: RedisOptions, nodes: readonly string[]): Cluster {
  const seeds = nodes.map((node) => new URL(node));
  // Credentials and TLS are the cluster's, not a node's: all nodes share the first URL's.
  const first = seeds[0] as URL;
  return new Cluster(
    seeds.map((url) => ({ host: url.hostname, port: Number(url.port || 6379) })),
    {
      lazyConnect: true,
      keyPrefix: options.keyPrefix,
      enableOfflineQueue: false,
      clusterRetryStrategy: reconnectDelay,
      slotsRefreshTimeout: options.connectTimeoutMs,
      // A failing-over node answers CLUSTERDOWN / TRYAGAIN for a moment; one quick retry, then the
      // caller's deadline (rateLimit.storeTimeoutMs, resilience.cacheReadTimeoutMs) decides.
      retryDelayOnClusterDown: 100,
      retryDelayOnTryAgain: 100,
      retryDelayOnFailover: 100,
      redisOptions: {
        connectTimeout: options.connectTimeoutMs,
        commandTimeout: options.commandTimeoutMs,
        maxRetriesPerRequest: 1,
        connectionName: options.connectionName,
        username: first.username ? decodeURIComponent(first.username) : undefined,
        password: first.password ? decodeURIComponent(first.password) : undefined,
        tls: first.protocol === 'rediss:' ? {} : undefined,
      },
    },
  );
}

/** Closes the connection gracefully, or cuts it if Redis does not answer within the timeout. */
export async function closeRedis(client: RedisClient, timeoutMs = 1_000): Promise<void> {
  if (client.status === 'end') return;
  let timer: NodeJS.Timeout | undefined;
  const cut = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      client.disconnect();
      resolve();
    }, timeoutMs);
  });
  const quit =
    client.status === 'ready'
      ? client.quit().then(
          () => undefined,
          () => client.disconnect(),
        )
      : Promise.resolve(client.disconnect());
  await Promise.race([quit, cut]);
  clearTimeout(timer);
}

/** Where the connection goes, for logs: the URL or the seed nodes, without passwords. */
export function describeRedis(options: Pick<RedisOptions, 'url' | 'clusterNodes'>): string {
  if (options.clusterNodes?.length) return `cluster ${options.clusterNodes.map(redactUrl).join(',')}`;
  return redactUrl(options.url ?? '');
}

/** A Redis URL without its password, for logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'redis://(unparseable url)';
  }
}
