import type { ApolloServerOptions } from '@apollo/server';
import type { GraphQLFormattedError } from 'graphql';
import type { GatewayContext } from '../context.js';
import { ERRORS } from '../errors.js';
import { CodedValidationError, TOO_MANY_TOKENS_MESSAGE } from './request-limits.js';

type FormatError = NonNullable<ApolloServerOptions<GatewayContext>['formatError']>;

/** Extension keys that carry internals: a subgraph in development mode sends its stack traces. */
const INTERNAL_EXTENSIONS = ['stacktrace', 'exception'];

/**
 * Gives Apollo's HTTP-level errors the registry's codes where Apollo's own code is too generic (a
 * 405, a mutation sent with GET, is METHOD_NOT_ALLOWED rather than BAD_REQUEST), and drops stack
 * traces from every error, the subgraphs' included (@apollo/gateway copies a subgraph's error
 * extensions onto the client's error; the gateway's own `includeStacktraceInErrorResponses: false`
 * does not cover those). Two limits get their own codes back: the parser's token limit (Apollo
 * calls it GRAPHQL_PARSE_FAILED) is TOO_MANY_TOKENS, and the gateway's validation rules (Apollo
 * re-codes them GRAPHQL_VALIDATION_FAILED) keep the code they were raised with.
 */
export const formatGatewayError: FormatError = (formatted: GraphQLFormattedError, error: unknown) => {
  const status = (error as { extensions?: { http?: { status?: unknown } } } | null)?.extensions?.http?.status;
  let extensions = formatted.extensions;
  if (extensions && INTERNAL_EXTENSIONS.some((key) => key in extensions!)) {
    extensions = Object.fromEntries(Object.entries(extensions).filter(([key]) => !INTERNAL_EXTENSIONS.includes(key)));
  }
  if (status === 405) extensions = { ...extensions, code: 'METHOD_NOT_ALLOWED' };
  if (extensions?.code === 'GRAPHQL_PARSE_FAILED' && TOO_MANY_TOKENS_MESSAGE.test(formatted.message)) {
    return { ...formatted, message: ERRORS.TOO_MANY_TOKENS.message, extensions: { ...extensions, code: 'TOO_MANY_TOKENS' } };
  }
  const original = (error as { originalError?: unknown } | null)?.originalError;
  if (original instanceof CodedValidationError) extensions = { ...extensions, code: original.code };
  return extensions === formatted.extensions ? formatted : { ...formatted, extensions };
};
