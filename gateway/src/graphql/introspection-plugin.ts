import type { ApolloServerPlugin } from '@apollo/server';
import { BREAK, GraphQLError, visit, type DocumentNode } from 'graphql';
import { hasTierOrScope, type Principal } from '../auth/principal.js';
import type { GatewayContext } from '../context.js';
import { ERRORS } from '../errors.js';

/** Who may introspect: everyone, no one, or callers with one of the tiers or scopes. */
export type IntrospectionPolicy = boolean | { tiers: readonly string[]; scopes: readonly string[] };

export interface UseIntrospectionPolicyOptions {
  /** @default true */
  policy: IntrospectionPolicy;
}

export function introspectionAllowed(policy: IntrospectionPolicy, principal: Principal | undefined): boolean {
  if (typeof policy === 'boolean') return policy;
  return hasTierOrScope(principal, policy);
}

/** {@link usesIntrospection} by document: Apollo hands every request of one operation the same parsed document. */
const introspecting = new WeakMap<DocumentNode, boolean>();

/** Whether any field of the document (fragments included) is `__schema` or `__type`. */
export function usesIntrospection(document: DocumentNode): boolean {
  let found = introspecting.get(document);
  if (found === undefined) {
    found = findsIntrospection(document);
    introspecting.set(document, found);
  }
  return found;
}

function findsIntrospection(document: DocumentNode): boolean {
  let found = false;
  visit(document, {
    Field(node) {
      if (node.name.value === '__schema' || node.name.value === '__type') {
        found = true;
        return BREAK;
      }
      return undefined;
    },
  });
  return found;
}

/**
 * Refuses introspection to callers the policy does not allow, with INTROSPECTION_DISABLED (403),
 * once the operation is resolved and before it is planned or sent to any subgraph. Apollo's own
 * `introspection` switch is all-or-nothing; this one reads the principal (tier and scopes).
 */
export function useIntrospectionPolicy(options: UseIntrospectionPolicyOptions): ApolloServerPlugin<GatewayContext> {
  const { policy } = options;
  return {
    async requestDidStart() {
      if (policy === true) return;
      return {
        async didResolveOperation({ document, contextValue }) {
          if (!usesIntrospection(document)) return;
          if (introspectionAllowed(policy, contextValue.state.principal)) return;
          throw new GraphQLError(ERRORS.INTROSPECTION_DISABLED.message, {
            extensions: { code: 'INTROSPECTION_DISABLED', http: { status: ERRORS.INTROSPECTION_DISABLED.status } },
          });
        },
      };
    },
  };
}
