import { Redis } from 'ioredis';
import type { Logger } from 'pino';

export interface RedisOptions {
  url: string;
  connectTimeoutMs: number;
  commandTimeoutMs: number;
  keyPrefix: string;
  /** Shown by `CLIENT LIST`, so operators can tell gateway instances apart. */
  connectionName: string;
}

/**
 * The gateway's one Redis connection. It connects in the background and never blocks start-up or
 * a request: commands fail fast while it is down (no offline queue), and ioredis reconnects with a
 * capped back-off. Callers decide what a failure means (fail open or closed).
 */
export function createRedis(options: RedisOptions, logger: Logger): Redis {
  const client = new Redis(options.url, {
    lazyConnect: true,
    connectTimeout: options.connectTimeoutMs,
    commandTimeout: options.commandTimeoutMs,
    keyPrefix: options.keyPrefix,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    connectionName: options.connectionName,
    retryStrategy: (attempt) => Math.min(attempt * 200, 5_000),
  });
  let wasReady = false;
  client.on('ready', () => {
    wasReady = true;
    logger.info({ redis: redactUrl(options.url) }, 'redis connected');
  });
  client.on('error', (error: Error) => {
    if (wasReady) logger.warn({ err: error.message }, 'redis connection error');
  });
  client.on('end', () => (wasReady = false));
  client.connect().catch((error: Error) => {
    logger.warn({ redis: redactUrl(options.url), err: error.message }, 'redis not reachable yet; retrying in the background');
  });
  return client;
}

/** Closes the connection gracefully, or cuts it if Redis does not answer within the timeout. */
export async function closeRedis(client: Redis, timeoutMs = 1_000): Promise<void> {
  if (client.status === 'end') return;
  let timer: NodeJS.Timeout | undefined;
  const cut = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      client.disconnect();
      resolve();
    }, timeoutMs);
  });
  const quit = client.status === 'ready' ? client.quit().then(() => undefined, () => client.disconnect()) : Promise.resolve(client.disconnect());
  await Promise.race([quit, cut]);
  clearTimeout(timer);
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
