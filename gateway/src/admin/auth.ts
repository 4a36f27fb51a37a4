import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FastifyRequest } from 'fastify';
import { ConfigError } from '../config-kit.js';
import { GatewayError } from '../errors.js';
import type { AdminToken } from './config.js';

/** Who called the admin API: the token's name (never the token) and its access. */
export interface AdminCaller {
  token: string;
  access: AdminToken['access'];
}

interface KnownToken extends AdminCaller {
  digest: Buffer;
}

const MIN_TOKEN_LENGTH = 16;

const digestOf = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/**
 * Reads every admin token from its secret (an environment variable or a file) once, at start-up,
 * and keeps only its sha256: the token itself is never logged, shown or kept. A missing, empty or
 * short secret stops start-up with a message naming the token and where it was looked for.
 */
export function loadAdminTokens(tokens: readonly AdminToken[], env: NodeJS.ProcessEnv = process.env): AdminAuthenticator {
  const known: KnownToken[] = tokens.map((token, index) => {
    const where = token.env !== undefined ? `environment variable ${token.env}` : `file ${token.file}`;
    let secret: string | undefined;
    try {
      secret = token.env !== undefined ? env[token.env] : readFileSync(token.file as string, 'utf8');
    } catch (error) {
      throw new ConfigError(
        `admin.tokens.${index} (${token.name}): cannot read ${where}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
      );
    }
    secret = secret?.trim();
    if (!secret || secret.length < MIN_TOKEN_LENGTH) {
      throw new ConfigError(`admin.tokens.${index} (${token.name}): ${where} must hold a token of at least ${MIN_TOKEN_LENGTH} characters`);
    }
    return { token: token.name, access: token.access, digest: digestOf(secret) };
  });
  return new AdminAuthenticator(known);
}

/**
 * Checks `Authorization: Bearer <token>`: the presented token's sha256 is compared with every known
 * token's in constant time (equal-length digests, `timingSafeEqual`, no early exit), so neither the
 * comparison nor which token matched shows in the timing.
 */
export class AdminAuthenticator {
  constructor(private readonly tokens: readonly KnownToken[]) {}

  /** The caller, or a 401 `ADMIN_UNAUTHENTICATED`; a `read` token on a route that changes something gets 403 `ADMIN_FORBIDDEN`. */
  authenticate(request: FastifyRequest, needs: AdminToken['access']): AdminCaller {
    const header = request.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header) : null;
    const challenge = { 'www-authenticate': 'Bearer realm="gateway-admin"' };
    if (!match?.[1]) throw new GatewayError('ADMIN_UNAUTHENTICATED', undefined, challenge);
    const presented = digestOf(match[1]);
    let found: KnownToken | undefined;
    for (const token of this.tokens) if (timingSafeEqual(presented, token.digest) && !found) found = token;
    if (!found) {
      throw new GatewayError('ADMIN_UNAUTHENTICATED', 'The admin token is not valid.', {
        'www-authenticate': 'Bearer realm="gateway-admin", error="invalid_token"',
      });
    }
    if (needs === 'write' && found.access !== 'write') throw new GatewayError('ADMIN_FORBIDDEN');
    return { token: found.token, access: found.access };
  }
}
