import { GraphQLError } from 'graphql';

/** Error codes the demo subgraphs put in `extensions.code`. */
export type SubgraphErrorCode = 'BAD_USER_INPUT' | 'NOT_FOUND' | 'ORDER_ALREADY_CANCELLED' | 'UNAUTHENTICATED';

/**
 * A client-facing GraphQL error. `field` names the offending argument or input path
 * (`first`, `input.items[2].quantity`) so a client can point at it.
 */
export function subgraphError(code: SubgraphErrorCode, message: string, field?: string): GraphQLError {
  return new GraphQLError(message, {
    extensions: field === undefined ? { code } : { code, field },
  });
}

export function badUserInput(message: string, field: string): GraphQLError {
  return subgraphError('BAD_USER_INPUT', message, field);
}
