import { Kind, parse, type ConstArgumentNode } from 'graphql';

export interface SubgraphRef {
  name: string;
  url: string;
}

/** The subgraphs a supergraph declares (`enum join__Graph { X @join__graph(name:, url:) }`). */
export function listSubgraphs(supergraphSdl: string): SubgraphRef[] {
  const document = parse(supergraphSdl, { noLocation: true });
  const subgraphs: SubgraphRef[] = [];
  for (const definition of document.definitions) {
    if (definition.kind !== Kind.ENUM_TYPE_DEFINITION || definition.name.value !== 'join__Graph') continue;
    for (const value of definition.values ?? []) {
      const directive = value.directives?.find((d) => d.name.value === 'join__graph');
      const name = stringArgument(directive?.arguments, 'name');
      const url = stringArgument(directive?.arguments, 'url');
      if (name !== undefined) subgraphs.push({ name, url: url ?? '' });
    }
  }
  return subgraphs;
}

function stringArgument(args: readonly ConstArgumentNode[] | undefined, name: string): string | undefined {
  const arg = args?.find((a) => a.name.value === name);
  return arg?.value.kind === Kind.STRING ? arg.value.value : undefined;
}
