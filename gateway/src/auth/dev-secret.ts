import { SignJWT } from 'jose';

/**
 * The demo's HMAC secret: DEV ONLY. It is in the repository, so anyone can mint tokens with it.
 * `npm start` trusts it (issuer `gateway-demo`) and `npm run token` signs with it; the gateway and
 * both scripts refuse it when `NODE_ENV=production`.
 */
export const DEV_JWT_SECRET = 'dev-only-insecure-secret-do-not-use-in-production';
export const DEV_JWT_ISSUER = 'gateway-demo';
export const DEV_JWT_AUDIENCE = 'gateway-demo';

export function assertNotDevSecretInProduction(secret: string, env: NodeJS.ProcessEnv = process.env): void {
  if (secret === DEV_JWT_SECRET && env.NODE_ENV === 'production') {
    throw new Error('the demo JWT secret is dev-only and refused when NODE_ENV=production: configure a real issuer');
  }
}

export interface DevTokenOptions {
  sub: string;
  tier?: string | undefined;
  scopes?: readonly string[] | undefined;
  /** Lifetime in seconds. @default 3600 */
  ttlSeconds?: number | undefined;
}

/** A token the demo gateway accepts (`npm run token`); refused under `NODE_ENV=production`. */
export async function signDevToken(options: DevTokenOptions, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  assertNotDevSecretInProduction(DEV_JWT_SECRET, env);
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({
    ...(options.tier ? { tier: options.tier } : {}),
    ...(options.scopes?.length ? { scope: options.scopes.join(' ') } : {}),
  })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer(DEV_JWT_ISSUER)
    .setAudience(DEV_JWT_AUDIENCE)
    .setSubject(options.sub)
    .setIssuedAt(now)
    .setExpirationTime(now + (options.ttlSeconds ?? 3600))
    .sign(new TextEncoder().encode(DEV_JWT_SECRET));
}

/** The issuer entry the demo (`npm start`) adds to the gateway's config. */
export const DEV_ISSUER = {
  issuer: DEV_JWT_ISSUER,
  audience: DEV_JWT_AUDIENCE,
  algorithms: ['HS256' as const],
  secret: DEV_JWT_SECRET,
};
