import { createHash } from 'node:crypto';
import { HeaderMap, type ApolloServerPlugin, type GraphQLRequestContextDidResolveOperation } from '@apollo/server';
import {
  GraphQLError,
  print,
  type DocumentNode,
  type GraphQLFormattedError,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from 'graphql';
import { AuthPolicy } from './directives.js';
import { FilteredOperations } from './filtered-operations.js';
import { applyNulls, type FilteredOperation } from './operation-filter.js';
import type { GatewayContext } from '../context.js';
import { ERRORS } from '../errors.js';

declare module '../context.js' {
  interface RequestState {
    /**
     * Set on a subscription from which fields were removed: shapes each event as a query's answer
     * is shaped (the removed fields null, an `UNAUTHORIZED_FIELD_OR_TYPE` error each).
     */
    authorizeEvent?:
      (<T extends { data?: Record<string, unknown> | null; errors?: readonly GraphQLFormattedError[] }>(result: T) => T) | undefined;
  }
}

export interface AuthorizationOptions {
  /** Realm of the `WWW-Authenticate` challenge sent when an anonymous caller is refused. @default 'gateway' */
  realm?: string;
}

/**
 * Enforces `@authenticated` and `@requiresScopes` from the supergraph (Apollo Router semantics):
 * fields the caller may not see are removed before query planning, so no subgraph is asked for
 * them; they come back as null with an `UNAUTHORIZED_FIELD_OR_TYPE` error each, and the rest of the
 * data is returned. An operation with nothing left is refused: 401 UNAUTHENTICATED for an
 * anonymous caller, 403 FORBIDDEN for a signed-in one.
 *
 * The rules are read from `coreSupergraphSdl` on every schema load and hot reload, and kept per API
 * schema object: a request on a schema whose rules were not read is refused (fails closed).
 */
export function useAuthorization(options: AuthorizationOptions = {}): ApolloServerPlugin<GatewayContext> {
  const realm = options.realm ?? 'gateway';
  const policies = new WeakMap<GraphQLSchema, AuthPolicy>();
  const filteredOperations = new FilteredOperations();
  return {
    async serverWillStart() {
      return {
        schemaDidLoadOrUpdate({ apiSchema, coreSupergraphSdl }) {
          if (coreSupergraphSdl !== undefined) policies.set(apiSchema, new AuthPolicy(coreSupergraphSdl));
        },
      };
    },
    async requestDidStart() {
      let filtered: FilteredOperation | undefined;
      return {
        async didResolveOperation(requestContext) {
          const { schema, document, operation } = requestContext;
          if (!operation) return;
          const policy = policies.get(schema);
          if (!policy) {
            throw new GraphQLError('Authorization rules are not loaded for this schema.', {
              extensions: { code: 'INTERNAL_SERVER_ERROR', http: { status: 500 } },
            });
          }
          filtered = filteredOperations.filter(schema, document, operation, policy, requestContext.contextValue.state.principal);
          if (filtered.document !== document && !filtered.empty) replaceOperation(requestContext, filtered.document, filtered.operation);
          const removed = filtered;
          if (operation.operation === 'subscription' && !removed.empty && removed.unauthorized.length + removed.nulls.length > 0) {
            requestContext.contextValue.state.authorizeEvent = (result) => withRemovedFields(result, removed);
          }
        },
        async responseForOperation(requestContext) {
          if (!filtered?.empty) return null;
          const principal = requestContext.contextValue.state.principal;
          const anonymous = !principal || principal.kind === 'anonymous';
          const code = anonymous ? 'UNAUTHENTICATED' : 'FORBIDDEN';
          const headers = new HeaderMap();
          if (anonymous) headers.set('www-authenticate', `Bearer realm="${realm}"`);
          const message = anonymous
            ? 'Sign in to run this operation: every field it asks for needs an authenticated caller or scopes.'
            : ERRORS.FORBIDDEN.message;
          return {
            http: { status: ERRORS[code].status, headers },
            body: { kind: 'single', singleResult: { errors: [{ message, extensions: { code } }, ...fieldErrors(filtered.unauthorized)] } },
          };
        },
        async willSendResponse({ response }) {
          if (!filtered || filtered.empty || filtered.unauthorized.length + filtered.nulls.length === 0) return;
          if (response.body.kind !== 'single') return;
          const result = response.body.singleResult;
          // Refused before execution (a limit, cost or budget error: no `data`): no field was removed from an answer.
          if (result.data === undefined) return;
          Object.assign(result, withRemovedFields(result, filtered));
        },
      };
    },
  };
}

/** A result as the caller may see it: each removed field null with its `UNAUTHORIZED_FIELD_OR_TYPE` error, first. */
function withRemovedFields<T extends { data?: Record<string, unknown> | null; errors?: readonly GraphQLFormattedError[] }>(
  result: T,
  filtered: FilteredOperation,
): T {
  if (result.data) applyNulls(result.data, filtered.nulls);
  return { ...result, errors: [...fieldErrors(filtered.unauthorized), ...(result.errors ?? [])] };
}

function fieldErrors(paths: readonly string[][]): GraphQLFormattedError[] {
  return paths.map((path) => ({
    message: `Unauthorized field or type: the caller may not see ${path.join('.')}.`,
    path,
    extensions: { code: 'UNAUTHORIZED_FIELD_OR_TYPE' },
  }));
}

/**
 * Hands the gateway the filtered operation. Apollo Server passes the request context's document
 * and query hash to `@apollo/gateway`'s executor, which plans from the document and caches plans
 * by the hash: the hash must name the filtered text, or a plan made for one caller's permissions
 * would be served to another. The original document (in Apollo's document cache) is not modified.
 */
function replaceOperation(
  requestContext: GraphQLRequestContextDidResolveOperation<GatewayContext>,
  document: DocumentNode,
  operation: OperationDefinitionNode,
): void {
  const source = print(document);
  const writable = requestContext as { document: DocumentNode; operation?: OperationDefinitionNode; source: string; queryHash: string };
  writable.document = document;
  writable.operation = operation;
  writable.source = source;
  writable.queryHash = createHash('sha256').update(source).digest('hex');
}
