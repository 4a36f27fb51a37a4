import { Supergraph } from '@apollo/federation-internals';
import type { GraphQLSchema } from 'graphql';
import { withEnforcedSecurityLinksUnmarked } from './security-links.js';

/**
 * The API schema a supergraph exposes to clients, built the way @apollo/gateway builds it, for
 * tools that work outside a running gateway (`npm run cost`). Security links the gateway enforces
 * itself are unmarked first, as the gateway does.
 */
export function apiSchemaFromSupergraph(supergraphSdl: string): GraphQLSchema {
  return Supergraph.build(withEnforcedSecurityLinksUnmarked(supergraphSdl)).apiSchema().toGraphQLJSSchema();
}
