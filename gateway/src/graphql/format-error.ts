import type { ApolloServerOptions } from '@apollo/server';
import type { GraphQLFormattedError } from 'graphql';
import type { GatewayContext } from '../context.js';

type FormatError = NonNullable<ApolloServerOptions<GatewayContext>['formatError']>;

/**
 * Gives Apollo's HTTP-level errors the registry's codes where Apollo's own code is too generic:
 * a 405 (a mutation sent with GET) is METHOD_NOT_ALLOWED rather than BAD_REQUEST.
 */
export const formatGatewayError: FormatError = (formatted: GraphQLFormattedError, error: unknown) => {
  const status = (error as { extensions?: { http?: { status?: unknown } } } | null)?.extensions?.http?.status;
  if (status === 405) return { ...formatted, extensions: { ...formatted.extensions, code: 'METHOD_NOT_ALLOWED' } };
  return formatted;
};
