import { readFileSync } from 'node:fs';
import { Supergraph } from '@apollo/federation-internals';
import { parse, type OperationDefinitionNode } from 'graphql';
import { describe, expect, it } from 'vitest';
import { AuthPolicy } from '../gateway/src/auth/directives.js';
import { FilteredOperations } from '../gateway/src/auth/filtered-operations.js';
import { anonymousPrincipal, type Principal } from '../gateway/src/auth/principal.js';
import { withEnforcedSecurityLinksUnmarked } from '../gateway/src/supergraph/security-links.js';

// The authorization filter's results are kept with the operation they filtered, keyed by what of
// the principal they depend on (signed in or not, scopes): a repeated operation is not walked again,
// and a caller never gets another caller's view of it.

const sdl = withEnforcedSecurityLinksUnmarked(readFileSync('schema/supergraph.graphql', 'utf8'));
const schema = Supergraph.build(sdl).apiSchema().toGraphQLJSSchema();
const policy = new AuthPolicy(sdl);
const document = parse('{ user(id: "user-1") { id name email orders(first: 1) { totalCount } } }');
const operation = document.definitions[0] as OperationDefinitionNode;

const user = (scopes: string[]): Principal => ({
  kind: 'user',
  id: 'user-1',
  tier: 'free',
  scopes,
  clientIp: '127.0.0.1',
  clientKey: 'user:test:user-1',
});

describe('filtered operations kept per operation and access', () => {
  it('filters a repeated operation once per access signature, and each caller gets its own view', () => {
    expect(policy.isEmpty).toBe(false);
    const kept = new FilteredOperations();
    const anonymous = kept.filter(schema, document, operation, policy, anonymousPrincipal('127.0.0.1'));
    expect(anonymous.unauthorized).toEqual([
      ['user', 'email'],
      ['user', 'orders'],
    ]);
    const signedIn = kept.filter(schema, document, operation, policy, user([]));
    expect(signedIn.unauthorized).toEqual([['user', 'email']]);
    const withScope = kept.filter(schema, document, operation, policy, user(['read:email']));
    expect(withScope.unauthorized).toEqual([]);
    expect(withScope.document).toBe(document);
    // Found again, not filtered again: the very same results.
    expect(kept.filter(schema, document, operation, policy, anonymousPrincipal('10.0.0.9'))).toBe(anonymous);
    expect(kept.filter(schema, document, operation, policy, undefined)).toBe(anonymous);
    expect(kept.filter(schema, document, operation, policy, user([]))).toBe(signedIn);
    expect(kept.filter(schema, document, operation, policy, user(['read:email']))).toBe(withScope);
    expect(kept.filter(schema, document, operation, policy, user(['orders:write'])).unauthorized).toEqual([['user', 'email']]);
    // One scope with a space in it is not two scopes: it must not find the view of a caller who has both.
    expect(kept.filter(schema, document, operation, policy, user(['read:email', 'x'])).unauthorized).toEqual([]);
    expect(kept.filter(schema, document, operation, policy, user(['read:email x'])).unauthorized).toEqual([['user', 'email']]);
  });
});
