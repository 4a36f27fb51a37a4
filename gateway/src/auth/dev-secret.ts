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
