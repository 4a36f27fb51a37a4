import { createLocalJWKSet, createRemoteJWKSet, errors, type JWTVerifyGetKey } from 'jose';
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
 *
 * Past `cacheMaxAgeMs` jose refetches before every key lookup and fails the lookup when the key
 * server does not answer, so an outage longer than that would refuse every token. While the key
 * server fails, the keys of its last good answer verify tokens instead (a kid they do not hold is
 * still unavailable, a 503, not a refusal): the same keys the background refresh keeps.
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
  // While the key server fails: jose's last good key set, and when the failure was seen.
  let outage: { keys: ReturnType<typeof createLocalJWKSet>; since: number } | undefined;
  const getKey: JWTVerifyGetKey = async (header, token) => {
    // Keys fetched within their cache age (a lookup, a refetch for a new kid, or the background
    // refresh): the key server answers again, and only what it answers counts.
    if (jwks.fresh) {
      outage = undefined;
      return jwks(header, token);
    }
    // Within a cooldown of a failed fetch the last good keys answer, and the key server is not
    // asked: one that hangs would hold every new token for `timeoutMs`.
    if (outage && Date.now() - outage.since < options.cooldownMs) {
      try {
        return await outage.keys(header, token);
      } catch {
        throw new errors.JOSEError('the JWKS cannot be fetched and its last good keys do not hold this key');
      }
    }
    try {
      const key = await jwks(header, token);
      outage = undefined;
      return key;
    } catch (error) {
      // No matching key (or several) comes from an answer the key server gave: not an outage.
      if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) throw error;
      const cached = jwks.jwks();
      if (!cached) throw error;
      if (!outage) {
        logger.warn(
          { jwks: url, err: error instanceof Error ? error.message : String(error) },
          'JWKS fetch failed past its cache age; verifying with the last good keys',
        );
      }
      outage = { keys: createLocalJWKSet(cached), since: Date.now() };
      try {
        return await outage.keys(header, token);
      } catch {
        throw error;
      }
    }
  };
  return { getKey, close: () => clearInterval(timer) };
}
