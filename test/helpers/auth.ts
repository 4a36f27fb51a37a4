import { createServer, type Server } from 'node:http';
import { signDevToken } from '../../gateway/src/auth/dev-secret.js';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK, type JWTPayload } from 'jose';

export interface SignOptions {
  alg?: string;
  kid?: string;
  issuer?: string;
  audience?: string;
  subject?: string;
  /** Seconds from now; `null` leaves `exp` out. @default 300 */
  expiresIn?: number | null;
  /** Seconds from now. */
  notBefore?: number;
  claims?: JWTPayload;
}

/** Signs a real JWT with jose. */
export async function sign(key: CryptoKey | Uint8Array, options: SignOptions = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({ ...options.claims })
    .setProtectedHeader({ alg: options.alg ?? 'HS256', ...(options.kid ? { kid: options.kid } : {}), typ: 'JWT' })
    .setIssuedAt(now)
    .setSubject(options.subject ?? 'user-1');
  if (options.issuer) jwt.setIssuer(options.issuer);
  if (options.audience) jwt.setAudience(options.audience);
  if (options.expiresIn !== null) jwt.setExpirationTime(now + (options.expiresIn ?? 300));
  if (options.notBefore !== undefined) jwt.setNotBefore(now + options.notBefore);
  return jwt.sign(key);
}

export const secretBytes = (secret: string) => new TextEncoder().encode(secret);

/** A token with `alg: none` and no signature, as an attacker would send it. */
export function unsignedToken(payload: JWTPayload): string {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${encode({ alg: 'none', typ: 'JWT' })}.${encode(payload)}.`;
}

export interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

export async function signingKey(kid: string, alg = 'RS256'): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

/** A real JWKS endpoint on 127.0.0.1 port 0 that counts its hits; `keys` can be swapped to rotate. */
export interface JwksServer {
  url: string;
  hits: number;
  keys: JWK[];
  /** Answer 503 to every fetch (the key server is down). */
  failing: boolean;
  close(): Promise<void>;
}

export async function startJwksServer(keys: JWK[]): Promise<JwksServer> {
  const state = { hits: 0, keys, failing: false };
  const server: Server = createServer((request, response) => {
    state.hits += 1;
    if (state.failing) return void response.writeHead(503).end();
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ keys: state.keys }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    get hits() {
      return state.hits;
    },
    set hits(value: number) {
      state.hits = value;
    },
    get keys() {
      return state.keys;
    },
    set keys(value: JWK[]) {
      state.keys = value;
    },
    get failing() {
      return state.failing;
    },
    set failing(value: boolean) {
      state.failing = value;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The Authorization header of a demo user, signed with the dev-only secret (as `npm run token` does). */
export async function devBearer(sub: string, scopes: string[] = []): Promise<Record<string, string>> {
  return { authorization: `Bearer ${await signDevToken({ sub, scopes })}` };
}
