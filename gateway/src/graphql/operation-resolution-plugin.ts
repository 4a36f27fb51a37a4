import type { ApolloServerPlugin } from '@apollo/server';
import { GraphQLError, Kind } from 'graphql';
import type { GatewayContext } from '../context.js';

/**
 * Rejects a request whose operation cannot be determined (unknown `operationName`, or several
 * operations and no name) with a 400 OPERATION_RESOLUTION_FAILURE. Apollo Server leaves this to
 * the executor when it runs a gateway, and @apollo/gateway answers it as a 500 INVALID_GRAPHQL.
 */
export function useOperationResolution(): ApolloServerPlugin<GatewayContext> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ operation, request, document }) {
          if (operation) return;
          const operations = document.definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION).length;
          const message = request.operationName
            ? `Unknown operation named "${request.operationName.slice(0, 100)}".`
            : operations > 1
              ? 'Must provide operation name if query contains multiple operations.'
              : 'The document contains no operation to run.';
          throw new GraphQLError(message, {
            extensions: { code: 'OPERATION_RESOLUTION_FAILURE', http: { status: 400 } },
          });
        },
      };
    },
  };
}
