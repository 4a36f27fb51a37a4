import { Kind, parse, type ConstArgumentNode, type DocumentNode } from 'graphql';
import { linkedDirectiveName } from './links.js';

export interface SubgraphRef {
  name: string;
  url: string;
}

/** A subgraph as the supergraph declares it, with the enum value its join directives refer to it by. */
export interface DeclaredGraph extends SubgraphRef {
  /** The `join__Graph` value, e.g. `USERS` in `@join__field(graph: USERS)`. */
  enumValue: string;
}

const JOIN_SPEC = 'https://specs.apollo.dev/join';

/** The subgraphs a supergraph declares (`enum join__Graph { X @join__graph(name:, url:) }`). */
export function listSubgraphs(supergraphSdl: string): SubgraphRef[] {
  return declaredGraphs(parse(supergraphSdl, { noLocation: true })).map(({ name, url }) => ({ name, url }));
}

/** The declared subgraphs of a parsed supergraph; the `@join__graph` name is resolved through its `@link`. */
export function declaredGraphs(document: DocumentNode): DeclaredGraph[] {
  const graphDirective = linkedDirectiveName(document, JOIN_SPEC, 'graph') ?? 'join__graph';
  const graphs: DeclaredGraph[] = [];
  for (const definition of document.definitions) {
    if (definition.kind !== Kind.ENUM_TYPE_DEFINITION) continue;
    for (const value of definition.values ?? []) {
      const directive = value.directives?.find((d) => d.name.value === graphDirective);
      const name = stringArgument(directive?.arguments, 'name');
      const url = stringArgument(directive?.arguments, 'url');
      if (name !== undefined) graphs.push({ name, url: url ?? '', enumValue: value.name.value });
    }
  }
  return graphs;
}

function stringArgument(args: readonly ConstArgumentNode[] | undefined, name: string): string | undefined {
  const arg = args?.find((a) => a.name.value === name);
  return arg?.value.kind === Kind.STRING ? arg.value.value : undefined;
}
