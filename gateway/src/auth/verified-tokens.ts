import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Principal } from './principal.js';

export interface VerifiedTokenCacheOptions {
  /** Most tokens remembered; 0 turns the cache off. */
  maxEntries: number;
  /** Longest a verification is trusted without checking the signature again, in seconds. */
  maxAgeSec: number;
}

type CachedPrincipal = Omit<Principal, 'clientIp'>;

/**
 * Successful token verifications, so that a client sending the same token again does not pay for
 * another signature check. An entry lives until the token's `exp` or `maxAgeSec`, whichever comes
 * first: a key retired from a JWKS stops working within `maxAgeSec`. Keyed by the token's SHA-256
 * (no token is kept in memory); failures are never cached, so random tokens cannot fill it.
 */
export class VerifiedTokenCache {
  private readonly entries: LRUCache<string, CachedPrincipal> | undefined;

  constructor(private readonly options: VerifiedTokenCacheOptions) {
    this.entries = options.maxEntries > 0 && options.maxAgeSec > 0 ? new LRUCache({ max: options.maxEntries }) : undefined;
  }

  get(token: string, clientIp: string): Principal | undefined {
    const cached = this.entries?.get(digest(token));
    return cached ? { ...cached, clientIp } : undefined;
  }

  /** `expiresAt`: the token's `exp` in seconds since the epoch, if it has one. */
  set(token: string, principal: Principal, expiresAt: number | undefined): void {
    if (!this.entries) return;
    const untilExpiry = expiresAt === undefined ? Number.POSITIVE_INFINITY : expiresAt * 1000 - Date.now();
    const ttl = Math.floor(Math.min(untilExpiry, this.options.maxAgeSec * 1000));
    if (ttl <= 0) return;
    const { clientIp: _clientIp, ...rest } = principal;
    this.entries.set(digest(token), rest, { ttl });
  }
}

function digest(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}
