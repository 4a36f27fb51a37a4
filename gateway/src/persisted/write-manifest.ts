import {
  Kind,
  parse,
  print,
  visit,
  type DefinitionNode,
  type DocumentNode,
  type FragmentDefinitionNode,
  type OperationDefinitionNode,
} from 'graphql';
import { MANIFEST_FORMAT, sha256Hex, type TrustedDocument } from './manifest.js';

export interface ManifestFile {
  format: typeof MANIFEST_FORMAT;
  version: 1;
  operations: TrustedDocument[];
}

/**
 * Manifest entries of GraphQL source texts: one per named operation, whose body is the operation
 * printed (graphql-js `print`, so whitespace and comments do not change the id) followed by the
 * fragments it uses from the same source, in source order. The id is the SHA-256 of the body, as
 * in Apollo's `@apollo/generate-persisted-query-manifest`. Throws on a syntax error, an anonymous
 * operation, a repeated operation name or a missing fragment, naming the source.
 */
export function manifestOf(sources: { name: string; text: string }[]): ManifestFile {
  const operations: TrustedDocument[] = [];
  const names = new Set<string>();
  for (const source of sources) {
    let document: DocumentNode;
    try {
      document = parse(source.text);
    } catch (error) {
      throw new Error(`${source.name}: ${(error as Error).message}`);
    }
    const fragments = new Map<string, FragmentDefinitionNode>();
    for (const definition of document.definitions) {
      if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
    }
    for (const definition of document.definitions) {
      if (definition.kind !== Kind.OPERATION_DEFINITION) continue;
      const name = definition.name?.value;
      if (!name) throw new Error(`${source.name}: every operation needs a name`);
      if (names.has(name)) throw new Error(`${source.name}: operation ${name} is defined twice`);
      names.add(name);
      const used = usedFragments(definition, fragments, source.name);
      const definitions: DefinitionNode[] = [
        definition,
        ...document.definitions.filter((d) => d.kind === Kind.FRAGMENT_DEFINITION && used.has(d.name.value)),
      ];
      const body = print({ kind: Kind.DOCUMENT, definitions });
      operations.push({ id: sha256Hex(body), name, type: definition.operation, body });
    }
  }
  return { format: MANIFEST_FORMAT, version: 1, operations };
}

function usedFragments(operation: OperationDefinitionNode, fragments: Map<string, FragmentDefinitionNode>, source: string): Set<string> {
  const used = new Set<string>();
  const pending: (OperationDefinitionNode | FragmentDefinitionNode)[] = [operation];
  for (let node = pending.pop(); node; node = pending.pop()) {
    visit(node, {
      FragmentSpread(spread) {
        const name = spread.name.value;
        if (used.has(name)) return;
        const fragment = fragments.get(name);
        if (!fragment) throw new Error(`${source}: fragment ${name} is not defined in the same file`);
        used.add(name);
        pending.push(fragment);
      },
    });
  }
  return used;
}
