import { createRemoteJWKSet, type JWTVerifyGetKey } from 'jose';
import type { Logger } from 'pino';

/** Options of one remote key set; the config's `auth.jwt.issuers[].jwks`. */
export interface JwksOptions {
  /** Keys older than this are refetched before they are used. @default 600000 */
  cacheMaxAgeMs: number;
  /**
   * After a fetch, no refetch for this long, however many tokens with an unknown `kid` arrive: a
   * flood of random kids costs the key server at most one request per cooldown. @default 30000
   */
  cooldownMs: number;
  /** Timeout of one JWKS request. @default 5000 */
  timeoutMs: number;
  /** Background refresh, so rotation is seen before the first token with a new kid. @default 300000 */
  refreshIntervalMs: number;
}

export interface RemoteKeySet {
  getKey: JWTVerifyGetKey;
  close(): void;
}

/**
 * A cached JWKS (jose's `createRemoteJWKSet`) plus a background refresh. jose fetches lazily on
 * the first token, refetches when a token names a `kid` it does not hold (rate-limited by the
 * cooldown), and deduplicates concurrent fetches. A failed background refresh keeps the old keys.
 */
export function remoteKeySet(url: string, options: JwksOptions, logger: Logger): RemoteKeySet {
  const jwks = createRemoteJWKSet(new URL(url), {
    cacheMaxAge: options.cacheMaxAgeMs,
    cooldownDuration: options.cooldownMs,
    timeoutDuration: options.timeoutMs,
  });
  const timer = setInterval(() => {
    jwks.reload().catch((error: unknown) => {
      logger.warn(
        { jwks: url, err: error instanceof Error ? error.message : String(error) },
        'JWKS refresh failed; keeping the cached keys',
      );
    });
  }, options.refreshIntervalMs);
  timer.unref();
  return { getKey: jwks, close: () => clearInterval(timer) };
}
