import { Kind, parse, type ConstDirectiveNode, type DocumentNode } from 'graphql';
import { linkedDirectiveName } from './links.js';
import { declaredGraphs } from './subgraph-list.js';

const JOIN_SPEC = 'https://specs.apollo.dev/join';

/**
 * Which subgraphs can resolve each field of a supergraph (`Type.field` → subgraph names), read from
 * the join spec: a field's `@join__field(graph:)` entries that are not `external`, or, without any,
 * every graph of its type's `@join__type`. Used to tell which subgraphs an operation will touch
 * before the query planner runs; a field several subgraphs can resolve lists them all, so the answer
 * errs on the side of "uses it".
 */
export class FieldOwners {
  private constructor(private readonly owners: ReadonlyMap<string, readonly string[]>) {}

  static fromSupergraph(sdl: string): FieldOwners {
    return new FieldOwners(readOwners(parse(sdl, { noLocation: true })));
  }

  /** The subgraphs of these field coordinates, deduplicated, in first-seen order. Unknown coordinates (introspection) add none. */
  subgraphsOf(coordinates: Iterable<string>): string[] {
    const found = new Set<string>();
    for (const coordinate of coordinates) for (const name of this.owners.get(coordinate) ?? []) found.add(name);
    return [...found];
  }
}

function readOwners(document: DocumentNode): Map<string, string[]> {
  const fieldDirective = linkedDirectiveName(document, JOIN_SPEC, 'field') ?? 'join__field';
  const typeDirective = linkedDirectiveName(document, JOIN_SPEC, 'type') ?? 'join__type';
  const graphNames = new Map(declaredGraphs(document).map((graph) => [graph.enumValue, graph.name]));
  const graphOf = (directive: ConstDirectiveNode): string | undefined => {
    const graph = directive.arguments?.find((a) => a.name.value === 'graph')?.value;
    return graph?.kind === Kind.ENUM ? graphNames.get(graph.value) : undefined;
  };

  const owners = new Map<string, string[]>();
  for (const definition of document.definitions) {
    if (definition.kind !== Kind.OBJECT_TYPE_DEFINITION && definition.kind !== Kind.INTERFACE_TYPE_DEFINITION) continue;
    const typeGraphs = (definition.directives ?? []).filter((d) => d.name.value === typeDirective).flatMap((d) => graphOf(d) ?? []);
    for (const field of definition.fields ?? []) {
      const joins = (field.directives ?? []).filter((d) => d.name.value === fieldDirective);
      const graphs = joins.length ? joins.filter((d) => !booleanArgument(d, 'external')).flatMap((d) => graphOf(d) ?? []) : typeGraphs;
      owners.set(`${definition.name.value}.${field.name.value}`, [...new Set(graphs)]);
    }
  }
  return owners;
}

function booleanArgument(directive: ConstDirectiveNode, name: string): boolean {
  const value = directive.arguments?.find((a) => a.name.value === name)?.value;
  return value?.kind === Kind.BOOLEAN && value.value;
}
