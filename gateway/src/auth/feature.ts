import type { Logger } from 'pino';
import { inheritedByOperations, requestState } from '../context.js';
import type { AuthConfig } from './config.js';
import type { Feature } from '../feature.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import type { RedisClient } from '../redis/client.js';
import { createAuthenticator, type Authenticator } from './authenticate.js';
import { useAuthorization } from './authorization-plugin.js';

declare module '../feature.js' {
  interface FeatureServices {
    /** Who is calling: its `hook()` guards the GraphQL route and every REST route. */
    authenticator: Authenticator;
  }
}

/**
 * Authentication (JWT and API keys, anonymous callers by client IP) and authorization:
 * `@authenticated` / `@requiresScopes`, enforced on the operation before it is costed or planned.
 */
export const authFeature: Feature<{ auth: AuthConfig }, { logger: Logger; metrics: GatewayMetrics; redis: RedisClient | undefined }> = {
  name: 'auth',
  setup({ config, shared }) {
    // Each operation of a batch is the same caller's.
    inheritedByOperations('principal');
    const authenticator = createAuthenticator({
      config: config.auth,
      redis: shared.redis,
      logger: shared.logger.child({ component: 'auth' }),
      metrics: shared.metrics,
    });
    return {
      provides: { authenticator },
      apolloPlugins: [useAuthorization({ realm: config.auth.realm })],
      describe(request) {
        const principal = requestState(request).principal;
        if (!principal) return undefined;
        return {
          log: { principal: principal.clientKey, tier: principal.tier },
          span: { 'gateway.client.id': principal.clientKey, 'gateway.client.kind': principal.kind, 'gateway.client.tier': principal.tier },
        };
      },
      close: () => authenticator.close(),
    };
  },
};
