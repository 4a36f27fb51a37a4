import type { DocumentNode, GraphQLSchema, OperationDefinitionNode } from 'graphql';
import type { AuthPolicy } from './directives.js';
import { filterOperation, type FilteredOperation } from './operation-filter.js';
import type { Principal } from './principal.js';

/** Access signatures kept per operation; past it, that operation's entries start again. */
const MAX_SIGNATURES_PER_OPERATION = 64;

/**
 * {@link filterOperation}'s results kept with the operation they filtered, so that a repeated
 * operation is not walked again on every request. A result depends on the policy (one per
 * supergraph), the operation (Apollo Server keeps parsed documents, so a repeated query brings the
 * same node) and, of the principal, only whether it is signed in and its scopes: that is the key.
 * Results are only read by their users.
 */
export class FilteredOperations {
  private readonly byPolicy = new WeakMap<AuthPolicy, WeakMap<OperationDefinitionNode, Map<string, FilteredOperation>>>();

  filter(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    policy: AuthPolicy,
    principal: Principal | undefined,
  ): FilteredOperation {
    if (policy.isEmpty) return filterOperation(schema, document, operation, policy, principal);
    let byOperation = this.byPolicy.get(policy);
    if (!byOperation) this.byPolicy.set(policy, (byOperation = new WeakMap()));
    let bySignature = byOperation.get(operation);
    if (!bySignature) byOperation.set(operation, (bySignature = new Map()));
    const signedIn = principal !== undefined && principal.kind !== 'anonymous';
    // JSON, not a join: a scope may itself contain the separator (`["a b"]` is not `["a", "b"]`).
    const signature = signedIn ? JSON.stringify(principal.scopes) : '-';
    let filtered = bySignature.get(signature);
    if (!filtered) {
      filtered = filterOperation(schema, document, operation, policy, principal);
      if (bySignature.size >= MAX_SIGNATURES_PER_OPERATION) bySignature.clear();
      bySignature.set(signature, filtered);
    }
    return filtered;
  }
}
