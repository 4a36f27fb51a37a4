import { Supergraph, operationFromDocument, type Schema } from '@apollo/federation-internals';
import { buildOperationContext } from '@apollo/gateway';

type OperationContext = ReturnType<typeof buildOperationContext>;
import { QueryPlanner, type FetchNode, type PlanNode } from '@apollo/query-planner';
import type { DocumentNode, GraphQLSchema } from 'graphql';

/** What a subscription runs: the fetch sent to the owning subgraph, and the rest of the plan run on each event. */
export interface SubscriptionPlan {
  /** The subgraph that owns the root field, and the operation the gateway subscribes to there. */
  primary: FetchNode;
  /** The fetches that complete each event from other subgraphs (absent when the owner answers everything). */
  rest: PlanNode | undefined;
  /** What `executeQueryPlan` needs to run `rest` and shape the result to the client's selection. */
  operationContext: OperationContext;
  supergraphSchema: GraphQLSchema;
  apiSchema: Schema;
}

/**
 * Plans subscriptions with the query planner `@apollo/gateway` uses (`@apollo/query-planner`, the
 * same version), built from the supergraph that was loaded. `@apollo/gateway` keeps its own planner
 * private, so one is built here on each load, from the same SDL (Apollo plugins receive it in
 * `schemaDidLoadOrUpdate`), and kept per API schema object: a request is planned on the supergraph
 * its document was validated against.
 */
export class SubscriptionPlanner {
  private readonly bySchema = new WeakMap<GraphQLSchema, LoadedPlanner>();

  load(apiSchema: GraphQLSchema, supergraphSdl: string): void {
    const supergraph = Supergraph.build(supergraphSdl);
    this.bySchema.set(apiSchema, {
      planner: new QueryPlanner(supergraph),
      apiSchema: supergraph.apiSchema(),
      supergraphSchema: supergraph.schema.toGraphQLJSSchema(),
      graphqlApiSchema: apiSchema,
    });
  }

  /** The plan of one subscription document; throws when the schema was not loaded or the plan has no subscription node. */
  plan(schema: GraphQLSchema, document: DocumentNode, operationName: string | undefined): SubscriptionPlan {
    const loaded = this.bySchema.get(schema);
    if (!loaded) throw new Error('the subscription planner has not loaded this schema');
    const operation = operationFromDocument(loaded.apiSchema, document, { operationName });
    const plan = loaded.planner.buildQueryPlan(operation);
    const node = plan.node;
    if (node?.kind !== 'Subscription') throw new Error('the query planner did not plan a subscription');
    return {
      primary: node.primary,
      rest: node.rest,
      operationContext: buildOperationContext({ schema: loaded.graphqlApiSchema, operationDocument: document, operationName }),
      supergraphSchema: loaded.supergraphSchema,
      apiSchema: loaded.apiSchema,
    };
  }

  /** Whether a plan made on an earlier supergraph is still what this one would plan (same fetches). */
  stillValid(schema: GraphQLSchema, document: DocumentNode, operationName: string | undefined, earlier: SubscriptionPlan): boolean {
    try {
      const now = this.plan(schema, document, operationName);
      return (
        now.primary.serviceName === earlier.primary.serviceName &&
        now.primary.operation === earlier.primary.operation &&
        JSON.stringify(now.rest) === JSON.stringify(earlier.rest)
      );
    } catch {
      return false;
    }
  }
}

interface LoadedPlanner {
  planner: QueryPlanner;
  apiSchema: Schema;
  supergraphSchema: GraphQLSchema;
  graphqlApiSchema: GraphQLSchema;
}
