import type { ApolloServerPlugin } from '@apollo/server';
import type { GatewayContext } from '../context.js';

/** What a client reads instead of a subgraph's own error message. */
export const MASKED_SUBGRAPH_MESSAGE = 'A subgraph failed to resolve part of this operation; the log has details under the request id.';

/** Extensions that can carry a subgraph's internals (its URL, the raw HTTP body, a stack trace). */
const INTERNAL_EXTENSIONS = new Set(['response', 'stacktrace', 'exception']);

/**
 * Replaces the message of every error that @apollo/gateway copied from a subgraph (it marks them
 * with `extensions.serviceName`) with {@link MASKED_SUBGRAPH_MESSAGE}. `extensions.code` and
 * `extensions.serviceName` stay, so clients can still branch on them; the original message is
 * logged once per error with the request id (the request logger carries it).
 */
export function useSubgraphErrorMasking(): ApolloServerPlugin<GatewayContext> {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ response, contextValue }) {
          if (response.body.kind !== 'single') return;
          const result = response.body.singleResult;
          if (!result.errors?.some((error) => error.extensions?.serviceName !== undefined)) return;
          result.errors = result.errors.map((error) => {
            const extensions = error.extensions;
            if (extensions?.serviceName === undefined) return error;
            contextValue.logger.warn(
              { subgraph: extensions.serviceName, code: extensions.code, path: error.path, subgraphMessage: error.message },
              'subgraph error masked',
            );
            const kept = Object.fromEntries(Object.entries(extensions).filter(([key]) => !INTERNAL_EXTENSIONS.has(key)));
            return { ...error, message: MASKED_SUBGRAPH_MESSAGE, extensions: kept };
          });
        },
      };
    },
  };
}
