import { Kind, parse, type DocumentNode, type FragmentDefinitionNode, type OperationDefinitionNode, type SelectionSetNode } from 'graphql';

export interface RootField {
  name: string;
  /** The alias when there is one: the key the field has in `data`. */
  responseKey: string;
}

export interface SubgraphOperation {
  type: 'query' | 'mutation' | 'subscription';
  rootFields: RootField[];
}

const MAX_REMEMBERED = 2_000;
/**
 * By document, then operation name ('' for none). Keyed by the document string itself: the planner
 * hands over the same string object each time, whose hash V8 keeps, where a key joined from the
 * name and the document was a new string to copy and hash on every call (twice per call).
 */
const remembered = new Map<string, Map<string, SubgraphOperation>>();

/**
 * The type and root fields of a query-planner-generated subgraph document. The planner sends the
 * same few documents over and over, so results are remembered (a bounded map of documents, oldest
 * dropped first).
 */
export function analyseOperation(query: string, operationName?: string): SubgraphOperation {
  const name = operationName ?? '';
  let byName = remembered.get(query);
  const known = byName?.get(name);
  if (known) return known;
  const result = analyse(parse(query), operationName);
  if (!byName) {
    if (remembered.size >= MAX_REMEMBERED) remembered.delete(remembered.keys().next().value as string);
    remembered.set(query, (byName = new Map()));
  }
  byName.set(name, result);
  return result;
}

function analyse(document: DocumentNode, operationName: string | undefined): SubgraphOperation {
  const operations = document.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
  const operation = operations.find((o) => operationName === undefined || o.name?.value === operationName) ?? operations[0];
  if (!operation) return { type: 'query', rootFields: [] };
  const fragments = new Map(
    document.definitions.filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION).map((d) => [d.name.value, d]),
  );
  const rootFields: RootField[] = [];
  const walk = (set: SelectionSetNode, depth: number) => {
    if (depth > 10) return;
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) {
        if (selection.name.value === '__typename') continue;
        rootFields.push({ name: selection.name.value, responseKey: selection.alias?.value ?? selection.name.value });
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        walk(selection.selectionSet, depth + 1);
      } else {
        const fragment = fragments.get(selection.name.value);
        if (fragment) walk(fragment.selectionSet, depth + 1);
      }
    }
  };
  walk(operation.selectionSet, 0);
  return { type: operation.operation, rootFields };
}
