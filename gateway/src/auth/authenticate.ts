import type { FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import type { RedisClient } from '../redis/client.js';
import type { Logger } from 'pino';
import type { AuthConfig } from './config.js';
import { requestState } from '../context.js';
import { GatewayError } from '../errors.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import { FileApiKeyStore, RedisApiKeyStore, type ApiKeyStore } from './api-key-store.js';
import { verifyApiKey } from './api-keys.js';
import { AuthFailure } from './failure.js';
import { createJwtVerifier, type JwtVerifier } from './jwt.js';
import { anonymousPrincipal, type Principal } from './principal.js';

export interface AuthenticatorOptions {
  /** The config's `auth` section. */
  config: AuthConfig;
  /** API keys are kept here when given, else in `auth.apiKeys.file`. */
  redis?: RedisClient | undefined;
  logger: Logger;
  metrics: GatewayMetrics;
  env?: NodeJS.ProcessEnv;
}

export interface Authenticator {
  /** Who is calling, from the request's headers alone (no body, no GraphQL). Throws a 401/503 GatewayError. */
  authenticate(request: FastifyRequest): Promise<Principal>;
  /**
   * A Fastify `onRequest` hook that puts the principal on the request state, or refuses the
   * request. Any route can use it (GraphQL does; a REST route adds its own checks after it, e.g.
   * `hasScopes(requestState(request).principal, ...)` from principal.ts).
   */
  hook(): onRequestAsyncHookHandler;
  close(): void;
}

const BEARER = /^Bearer +([^\s]+) *$/i;

/**
 * Decides who is calling: a bearer JWT, an API key, or (unless `auth.required`) an anonymous
 * caller identified by client IP (`request.ip`, which honours `X-Forwarded-For` only from
 * `server.trustedProxies`). A request with both a token and a key is refused rather than guessed.
 */
export function createAuthenticator(options: AuthenticatorOptions): Authenticator {
  const { config, logger, metrics } = options;
  const jwt: JwtVerifier = createJwtVerifier({
    issuers: config.jwt.issuers,
    maxTokenBytes: config.maxTokenBytes,
    cache: { maxEntries: config.jwt.cacheMaxEntries, maxAgeSec: config.jwt.cacheMaxAgeSec },
    logger,
    env: options.env,
  });
  const keyStore: ApiKeyStore = options.redis ? new RedisApiKeyStore(options.redis) : new FileApiKeyStore(config.apiKeys.file);
  const apiKeyHeader = config.apiKeys.header.toLowerCase();

  async function identify(request: FastifyRequest): Promise<{ method: string; principal: Principal }> {
    const authorization = request.headers.authorization;
    const apiKey = request.headers[apiKeyHeader];
    if (authorization !== undefined && apiKey !== undefined) throw new AuthFailure('ambiguous');
    if (authorization !== undefined) {
      const token = BEARER.exec(authorization)?.[1];
      if (!token) throw new AuthFailure('bad_scheme');
      return { method: 'jwt', principal: await jwt.verify(token, request.ip) };
    }
    if (apiKey !== undefined) {
      if (!config.apiKeys.enabled) throw new AuthFailure('api_keys_disabled');
      if (typeof apiKey !== 'string') throw new AuthFailure('unknown_api_key', 'header sent twice');
      return { method: 'api_key', principal: await verifyApiKey(keyStore, apiKey, request.ip) };
    }
    if (config.required) throw new AuthFailure('missing');
    return { method: 'anonymous', principal: anonymousPrincipal(request.ip) };
  }

  const challenge = (failure?: AuthFailure): string => {
    const parts = [`Bearer realm="${config.realm}"`];
    if (failure && failure.reason !== 'missing') {
      parts.push(`error="${failure.reason === 'bad_scheme' || failure.reason === 'ambiguous' ? 'invalid_request' : 'invalid_token'}"`);
      parts.push(`error_description="${failure.message.replaceAll('"', "'")}"`);
    }
    return parts.join(', ');
  };

  const authenticator: Authenticator = {
    async authenticate(request) {
      try {
        const { method, principal } = await identify(request);
        metrics.authAttempts.inc({ method, result: 'success' });
        return principal;
      } catch (error) {
        if (!(error instanceof AuthFailure)) throw error;
        const method =
          request.headers.authorization !== undefined ? 'jwt' : request.headers[apiKeyHeader] !== undefined ? 'api_key' : 'none';
        metrics.authAttempts.inc({ method, result: error.reason });
        request.log.info({ authMethod: method, reason: error.reason, detail: error.detail }, 'authentication failed');
        if (error.reason === 'unavailable') throw new GatewayError('AUTH_UNAVAILABLE', error.message, { 'retry-after': '1' });
        throw new GatewayError('UNAUTHENTICATED', error.message, { 'www-authenticate': challenge(error) });
      }
    },
    hook() {
      return async (request) => {
        requestState(request).principal = await authenticator.authenticate(request);
      };
    },
    close() {
      jwt.close();
    },
  };
  logger.info(
    {
      issuers: config.jwt.issuers.map((issuer) => issuer.issuer),
      apiKeys: config.apiKeys.enabled ? (options.redis ? 'redis' : `file ${config.apiKeys.file}`) : 'disabled',
      required: config.required,
    },
    'authentication configured',
  );
  return authenticator;
}
