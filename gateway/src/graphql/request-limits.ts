import { GraphQLError, type ValidationRule } from 'graphql';
import { ERRORS } from '../errors.js';

/**
 * A validation error that carries a registry code. Apollo Server re-codes every validation error as
 * GRAPHQL_VALIDATION_FAILED; `formatGatewayError` finds this class as the original error and puts
 * the gateway's code back.
 */
export class CodedValidationError extends GraphQLError {
  constructor(
    readonly code: 'TOO_MANY_DIRECTIVES',
    message: string,
  ) {
    super(message, { extensions: { code, http: { status: ERRORS[code].status } } });
  }
}

/**
 * Refuses a document with more than `max` directives in total (fields, fragments, fragment spreads
 * and operations together), as GraphQL Armor's max-directives does: one field carrying hundreds of
 * `@include(if: true)` costs validation and planning time without asking for more data.
 */
export function maxDirectivesRule(max: number): ValidationRule {
  return (context) => {
    let count = 0;
    return {
      Directive() {
        count += 1;
        if (count === max + 1) {
          context.reportError(new CodedValidationError('TOO_MANY_DIRECTIVES', `The document has more than ${max} directives.`));
        }
      },
    };
  };
}

/**
 * graphql-js's message when `parseOptions.maxTokens` stops the parser (graphql 16 spells it "more
 * that"; a later fix of the typo still matches). graphql-js gives this error no code of its own.
 */
export const TOO_MANY_TOKENS_MESSAGE = /^Syntax Error: Document contains more tha[nt] \d+ tokens\. Parsing aborted\.$/;
