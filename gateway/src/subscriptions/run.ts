import { HeaderMap, type ApolloServer } from '@apollo/server';
import type { FormattedExecutionResult } from 'graphql';
import type { GatewayContext } from '../context.js';
import { ERRORS } from '../errors.js';
import type { DocumentResolver, OperationParams } from '../persisted/documents.js';
import type { SubscriptionSession } from './session.js';
import './state.js';

/** What an operation sent on a streaming transport came to: one result (a query, a mutation, a refusal) or a running subscription. */
export type RunOutcome =
  { kind: 'single'; status: number; result: FormattedExecutionResult } | { kind: 'stream'; session: SubscriptionSession };

/**
 * Runs one operation received on a streaming transport through the same path as the GraphQL
 * route: documents by id and the trusted-documents list first, then Apollo Server with all of
 * the gateway's plugins (authorization, cost and budget, limits), with this operation's own
 * context. The caller was authenticated by the transport (the context's `state.principal`).
 */
export async function runOperation(
  apollo: ApolloServer<GatewayContext>,
  documents: DocumentResolver,
  params: OperationParams,
  contextValue: GatewayContext,
  headers: HeaderMap,
): Promise<RunOutcome> {
  const state = contextValue.state;
  const resolution = await documents.resolve(params, state.principal);
  if (!resolution.ok) {
    state.errorCodes = [resolution.code];
    return {
      kind: 'single',
      status: ERRORS[resolution.code].status,
      result: { errors: [{ message: resolution.message ?? ERRORS[resolution.code].message, extensions: { code: resolution.code } }] },
    };
  }
  state.trustedDocumentId = resolution.trustedId;
  const resolved = resolution.params as {
    query?: string;
    variables?: Record<string, unknown>;
    operationName?: string;
    extensions?: Record<string, unknown>;
  };
  const response = await apollo.executeOperation(
    {
      query: resolved.query,
      variables: resolved.variables ?? undefined,
      operationName: resolved.operationName ?? undefined,
      extensions: resolved.extensions,
      http: { method: 'POST', headers, search: '', body: resolution.params },
    },
    { contextValue },
  );
  if (state.subscription) return { kind: 'stream', session: state.subscription };
  if (resolution.register && state.operationType !== undefined) await documents.register(resolution.register);
  const status = response.http.status ?? 200;
  if (response.body.kind === 'single') return { kind: 'single', status, result: response.body.singleResult as FormattedExecutionResult };
  await (response.body.subsequentResults as unknown as AsyncIterator<unknown>).return?.();
  return {
    kind: 'single',
    status: 400,
    result: {
      errors: [{ message: 'Incremental delivery (`@defer`) is not supported on this transport.', extensions: { code: 'BAD_REQUEST' } }],
    },
  };
}

export function headerMapOf(headers: Record<string, string | string[] | undefined>): HeaderMap {
  const map = new HeaderMap();
  for (const [name, value] of Object.entries(headers))
    if (value !== undefined) map.set(name, Array.isArray(value) ? value.join(', ') : value);
  return map;
}
