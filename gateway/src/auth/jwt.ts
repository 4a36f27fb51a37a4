import { createPublicKey, type KeyObject } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { Logger } from 'pino';
import type { IssuerConfig } from './config.js';
import { assertNotDevSecretInProduction } from './dev-secret.js';
import { AuthFailure, type AuthFailureReason } from './failure.js';
import { remoteKeySet, type RemoteKeySet } from './jwks.js';
import type { Principal } from './principal.js';
import { VerifiedTokenCache, type VerifiedTokenCacheOptions } from './verified-tokens.js';

export interface JwtVerifierOptions {
  issuers: readonly IssuerConfig[];
  /** Tokens longer than this are refused before any parsing. */
  maxTokenBytes: number;
  /** Successful verifications remembered; see {@link VerifiedTokenCache}. */
  cache?: VerifiedTokenCacheOptions | undefined;
  logger: Logger;
  env?: NodeJS.ProcessEnv;
}

export interface JwtVerifier {
  /** The principal of a valid token; throws {@link AuthFailure} otherwise. */
  verify(token: string, clientIp: string): Promise<Principal>;
  close(): void;
}

interface Issuer {
  config: IssuerConfig;
  key: Uint8Array | KeyObject | JWTVerifyGetKey;
  remote?: RemoteKeySet;
}

const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]{1,200}$/; // RFC 6749 scope-token characters
const TIER = /^[A-Za-z0-9_.:-]{1,64}$/;
const MAX_ID_LENGTH = 256;

/**
 * Verifies bearer tokens with jose against the configured issuers. The token's (unverified) `iss`
 * picks the issuer entry; that entry's algorithm allow-list, key, audience and clock tolerance
 * decide. Keys are a static HMAC secret, a PEM or JWK public key, or a JWKS URL.
 */
export function createJwtVerifier(options: JwtVerifierOptions): JwtVerifier {
  const env = options.env ?? process.env;
  const issuers = new Map<string, Issuer>();
  for (const config of options.issuers) {
    if (issuers.has(config.issuer)) throw new Error(`auth.jwt.issuers: issuer "${config.issuer}" is configured twice`);
    issuers.set(config.issuer, buildIssuer(config, env, options.logger));
  }

  const verified = new VerifiedTokenCache(options.cache ?? { maxEntries: 0, maxAgeSec: 0 });

  return {
    async verify(token, clientIp) {
      if (Buffer.byteLength(token) > options.maxTokenBytes) throw new AuthFailure('too_large');
      const cached = verified.get(token, clientIp);
      if (cached) return cached;
      let alg: unknown;
      let iss: unknown;
      try {
        alg = decodeProtectedHeader(token).alg;
        iss = decodeJwt(token).iss;
      } catch {
        throw new AuthFailure('malformed');
      }
      if (typeof alg !== 'string' || alg.toLowerCase() === 'none') throw new AuthFailure('algorithm', `alg ${String(alg)}`);
      const issuer = typeof iss === 'string' ? issuers.get(iss) : undefined;
      if (!issuer) throw new AuthFailure('unknown_issuer', typeof iss === 'string' ? `iss ${iss.slice(0, 200)}` : 'no iss');
      const { config } = issuer;
      let payload: JWTPayload;
      try {
        const verifyOptions = {
          issuer: config.issuer,
          audience: config.audience,
          algorithms: config.algorithms,
          clockTolerance: config.clockToleranceSec,
          requiredClaims: config.requireExp ? ['exp', config.claims.id] : [config.claims.id],
        };
        const key = issuer.key;
        payload =
          typeof key === 'function'
            ? (await jwtVerify(token, key, verifyOptions)).payload
            : (await jwtVerify(token, key, verifyOptions)).payload;
      } catch (error) {
        throw new AuthFailure(failureReason(error, issuer.remote !== undefined), `${config.issuer}: ${(error as Error).message}`);
      }
      const principal = principalFromClaims(payload, config, clientIp);
      verified.set(token, principal, payload.exp);
      return principal;
    },
    close() {
      for (const issuer of issuers.values()) issuer.remote?.close();
    },
  };
}

function buildIssuer(config: IssuerConfig, env: NodeJS.ProcessEnv, logger: Logger): Issuer {
  if (config.secret !== undefined || config.secretEnv !== undefined) {
    const secret = config.secret ?? env[config.secretEnv ?? ''];
    if (!secret) throw new Error(`auth.jwt.issuers "${config.issuer}": environment variable ${config.secretEnv} is not set`);
    if (secret.length < 32) throw new Error(`auth.jwt.issuers "${config.issuer}": the HMAC secret must be at least 32 characters`);
    assertNotDevSecretInProduction(secret, env);
    return { config, key: new TextEncoder().encode(secret) };
  }
  if (config.publicKey !== undefined) return { config, key: createPublicKey(config.publicKey) };
  if (config.jwk !== undefined) {
    if ('d' in config.jwk) throw new Error(`auth.jwt.issuers "${config.issuer}": jwk is a private key; give the public key only`);
    return { config, key: createPublicKey({ key: config.jwk as never, format: 'jwk' }) };
  }
  const remote = remoteKeySet(config.jwksUrl as string, config.jwks, logger);
  return { config, key: remote.getKey, remote };
}

function failureReason(error: unknown, remote: boolean): AuthFailureReason {
  const code = (error as { code?: unknown }).code;
  switch (code) {
    case 'ERR_JWT_EXPIRED':
      return 'expired';
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED': {
      const claim = (error as { claim?: unknown }).claim;
      if (claim === 'nbf') return 'not_yet_valid';
      if (claim === 'aud') return 'audience';
      if (claim === 'iss') return 'unknown_issuer';
      return 'claims';
    }
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
    case 'ERR_JOSE_NOT_SUPPORTED':
      return 'algorithm';
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return 'signature';
    case 'ERR_JWKS_NO_MATCHING_KEY':
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return 'unknown_key';
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID':
      return 'malformed';
    case 'ERR_JWKS_TIMEOUT':
    case 'ERR_JWKS_INVALID':
      return 'unavailable';
  }
  // A JWKS that cannot be fetched (network error, non-200) is the gateway's problem, not the caller's.
  if (remote) return 'unavailable';
  return error instanceof TypeError ? 'algorithm' : 'malformed';
}

function principalFromClaims(payload: JWTPayload, config: IssuerConfig, clientIp: string): Principal {
  const id = payload[config.claims.id];
  if (typeof id !== 'string' || id === '' || id.length > MAX_ID_LENGTH) throw new AuthFailure('claims', `bad ${config.claims.id}`);
  const rawTier = payload[config.claims.tier];
  if (rawTier !== undefined && (typeof rawTier !== 'string' || !TIER.test(rawTier))) {
    throw new AuthFailure('claims', `bad ${config.claims.tier}`);
  }
  const scopes = scopesFrom(payload, config.claims.scopes);
  return {
    kind: 'user',
    id,
    tier: rawTier ?? config.defaultTier,
    scopes,
    issuer: config.issuer,
    claims: payload,
    clientIp,
    clientKey: `user:${config.issuer}:${id}`,
  };
}

function scopesFrom(payload: JWTPayload, claims: readonly string[]): string[] {
  const name = claims.find((claim) => payload[claim] !== undefined);
  if (name === undefined) return [];
  const value = payload[name];
  const scopes = typeof value === 'string' ? value.split(/\s+/).filter(Boolean) : value;
  if (!Array.isArray(scopes) || !scopes.every((scope): scope is string => typeof scope === 'string' && SCOPE_TOKEN.test(scope))) {
    throw new AuthFailure('claims', `bad ${name}`);
  }
  return [...new Set(scopes)];
}
