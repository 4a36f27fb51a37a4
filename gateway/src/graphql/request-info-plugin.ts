import type { ApolloServerPlugin } from '@apollo/server';
import type { GatewayContext } from '../context.js';

/**
 * Records what logging and metrics need to know about each GraphQL request (operation name and
 * type, error codes, whether data came back) on the request's state. It changes nothing.
 */
export function useRequestInfo(): ApolloServerPlugin<GatewayContext> {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ contextValue, operationName, operation, response }) {
          const state = contextValue.state;
          state.operationName = operation ? (operationName ?? '(anonymous)') : undefined;
          state.operationType = operation?.operation;
          if (response.body.kind !== 'single') return;
          const { errors, data } = response.body.singleResult;
          state.hasData = data !== undefined && data !== null;
          state.errorCodes = (errors ?? []).map((error) => String(error.extensions?.code ?? 'UNKNOWN'));
        },
      };
    },
  };
}
