import { HeaderMap, type ApolloServerPlugin } from '@apollo/server';
import { GraphQLError } from 'graphql';
import type { GatewayContext } from '../context.js';
import { ERRORS } from '../errors.js';
import type { ClientLimits } from './limits.js';
import type { SubscriptionService } from './service.js';
import './state.js';

/**
 * Runs subscriptions inside Apollo Server's request pipeline, so they pass every check a query
 * does first (parsing, validation, the trusted-documents list, `@authenticated` / `@requiresScopes`,
 * the cost limits and the budget charge: those plugins answer `responseForOperation` before this
 * one, which comes last). A subscription that got this far is started here instead of being handed
 * to `@apollo/gateway`'s executor, which refuses subscriptions; the session is put on the request
 * state for the transport (WebSocket, SSE, multipart) to stream, and Apollo is answered with an
 * empty incremental body (so no plugin settles it as a finished single result).
 */
export function useSubscriptions(service: SubscriptionService, limits: ClientLimits): ApolloServerPlugin<GatewayContext> {
  return {
    async serverWillStart() {
      return {
        schemaDidLoadOrUpdate({ apiSchema, coreSupergraphSdl }) {
          if (coreSupergraphSdl !== undefined) service.load(apiSchema, coreSupergraphSdl);
        },
      };
    },
    async requestDidStart() {
      // The client's subscription slot, taken before cost is charged; given back unless a session took it.
      let slot: (() => void) | undefined;
      return {
        async didResolveOperation({ operation, contextValue }) {
          const principal = contextValue.state.principal;
          if (operation?.operation !== 'subscription' || !contextValue.state.subscriptionProtocol || !principal) return;
          slot = limits.take('maxSubscriptions', principal);
          if (!slot) {
            const code = 'SUBSCRIPTION_LIMIT_EXCEEDED';
            throw new GraphQLError(ERRORS[code].message, { extensions: { code, http: { status: ERRORS[code].status } } });
          }
        },
        async willSendResponse() {
          slot?.();
        },
        async responseForOperation(requestContext) {
          if (requestContext.operation.operation !== 'subscription') return null;
          const state = requestContext.contextValue.state;
          if (!state.subscriptionProtocol) {
            const code = 'SUBSCRIPTION_TRANSPORT_REQUIRED';
            return {
              http: { status: ERRORS[code].status, headers: new HeaderMap() },
              body: { kind: 'single', singleResult: { errors: [{ message: ERRORS[code].message, extensions: { code } }] } },
            };
          }
          state.subscription = service.start(requestContext, slot);
          slot = undefined;
          return {
            http: { status: 200, headers: new HeaderMap() },
            body: { kind: 'incremental', initialResult: { hasNext: true }, subsequentResults: noResults() },
          };
        },
      };
    },
  };
}

async function* noResults(): AsyncGenerator<never> {}
