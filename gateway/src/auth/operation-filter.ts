import {
  Kind,
  getNamedType,
  isCompositeType,
  isNonNullType,
  visit,
  type DocumentNode,
  type FragmentDefinitionNode,
  type GraphQLCompositeType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionNode,
  type SelectionSetNode,
} from 'graphql';
import { allows, type AuthPolicy } from './directives.js';
import type { Principal } from './principal.js';

export interface FilteredOperation {
  /** The operation to execute: the original document when nothing was removed. */
  document: DocumentNode;
  operation: OperationDefinitionNode;
  /** Response paths (response keys) of the fields removed because the caller may not see them. */
  unauthorized: string[][];
  /** Response paths to set to null after execution (removed fields, or their nearest nullable ancestor). */
  nulls: string[][];
  /** Nothing is left to execute (or null propagation would null the whole `data`). */
  empty: boolean;
}

interface Walk {
  selections: readonly SelectionNode[];
  changed: boolean;
  /** A removed non-null field: the enclosing object must be null (GraphQL null propagation). */
  nullParent: boolean;
}

/**
 * Removes from an operation every field the principal may not see, as Apollo Router does: the
 * rest of the operation runs, the removed fields come back as null with an error each. A removed
 * non-null field nulls its nearest nullable ancestor instead, as GraphQL's null propagation would;
 * a field whose whole selection was removed goes too. Fragment spreads that lose a field become
 * inline fragments (named fragments can be used in places with different permissions).
 */
export function filterOperation(
  schema: GraphQLSchema,
  document: DocumentNode,
  operation: OperationDefinitionNode,
  policy: AuthPolicy,
  principal: Principal | undefined,
): FilteredOperation {
  const untouched = { document, operation, unauthorized: [], nulls: [], empty: false };
  if (policy.isEmpty) return untouched;
  const root = schema.getRootType(operation.operation);
  if (!root) return untouched;

  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }
  const unauthorized: string[][] = [];
  const nulls: string[][] = [];

  // `visited`: named fragments already walked in this selection set. A repeated spread of one adds
  // nothing to the response (graphql-js's field collection skips it) and is dropped here, where
  // walking it again made fragment-doubling documents take 2^N steps.
  const walk = (selectionSet: SelectionSetNode, parent: GraphQLCompositeType, path: string[], visited: Set<string> = new Set()): Walk => {
    const selections: SelectionNode[] = [];
    let changed = false;
    let nullParent = false;
    const dropped = (fieldPath: string[], nonNull: boolean) => {
      changed = true;
      if (nonNull) nullParent = true;
      else nulls.push(fieldPath);
    };
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        const name = selection.name.value;
        const definition = name.startsWith('__') || !('getFields' in parent) ? undefined : parent.getFields()[name];
        if (!definition) {
          selections.push(selection);
          continue;
        }
        const fieldPath = [...path, selection.alias?.value ?? name];
        const rule = policy.ruleFor(schema, parent, name, definition.type);
        if (rule && !allows(rule, principal)) {
          unauthorized.push(fieldPath);
          dropped(fieldPath, isNonNullType(definition.type));
          continue;
        }
        const childType = getNamedType(definition.type);
        if (!selection.selectionSet || !isCompositeType(childType)) {
          selections.push(selection);
          continue;
        }
        const child = walk(selection.selectionSet, childType, fieldPath);
        if (child.nullParent || child.selections.length === 0) {
          dropped(fieldPath, isNonNullType(definition.type));
        } else if (child.changed) {
          changed = true;
          selections.push({ ...selection, selectionSet: { ...selection.selectionSet, selections: child.selections } });
        } else {
          selections.push(selection);
        }
        continue;
      }
      if (selection.kind === Kind.FRAGMENT_SPREAD) {
        if (visited.has(selection.name.value)) continue;
        visited.add(selection.name.value);
      }
      const fragment = selection.kind === Kind.FRAGMENT_SPREAD ? fragments.get(selection.name.value) : selection;
      if (!fragment) {
        selections.push(selection);
        continue;
      }
      const condition = fragment.typeCondition ? schema.getType(fragment.typeCondition.name.value) : parent;
      // A fragment on a type the caller may not see goes whole: through an interface or union
      // field, the type's own rule is the only thing that guards its objects.
      const typeRule = fragment.typeCondition ? policy.typeRule(fragment.typeCondition.name.value) : undefined;
      if (typeRule && !allows(typeRule, principal)) {
        unauthorized.push(path);
        changed = true;
        continue;
      }
      const child = walk(fragment.selectionSet, condition && isCompositeType(condition) ? condition : parent, path, visited);
      if (child.nullParent) nullParent = true;
      if (!child.changed) {
        selections.push(selection);
      } else {
        changed = true;
        if (child.selections.length > 0) {
          selections.push({
            kind: Kind.INLINE_FRAGMENT,
            typeCondition: fragment.typeCondition,
            directives: selection.directives,
            selectionSet: { kind: Kind.SELECTION_SET, selections: child.selections },
          });
        }
      }
    }
    return { selections, changed, nullParent };
  };

  const result = walk(operation.selectionSet, root, []);
  if (!result.changed) return untouched;
  const filtered: OperationDefinitionNode = {
    ...operation,
    selectionSet: { ...operation.selectionSet, selections: result.selections },
  };
  const empty = result.nullParent || result.selections.length === 0;
  return { document: rebuild(filtered, fragments), operation: filtered, unauthorized, nulls, empty };
}

/** The document with only the filtered operation, the fragments it still uses, and the variables it still uses. */
function rebuild(operation: OperationDefinitionNode, fragments: Map<string, FragmentDefinitionNode>): DocumentNode {
  const usedFragments = new Set<string>();
  const usedVariables = new Set<string>();
  const collect = (node: OperationDefinitionNode | FragmentDefinitionNode) =>
    visit(node, {
      FragmentSpread(spread) {
        const name = spread.name.value;
        const definition = fragments.get(name);
        if (!usedFragments.has(name) && definition) {
          usedFragments.add(name);
          collect(definition);
        }
      },
      Variable(variable) {
        usedVariables.add(variable.name.value);
      },
      VariableDefinition() {
        return false;
      },
    });
  collect(operation);
  const pruned: OperationDefinitionNode = {
    ...operation,
    variableDefinitions: operation.variableDefinitions?.filter((definition) => usedVariables.has(definition.variable.name.value)),
  };
  return {
    kind: Kind.DOCUMENT,
    definitions: [pruned, ...[...usedFragments].flatMap((name) => fragments.get(name) ?? [])],
  };
}

/** Sets each path to null in the response data where the key is absent (lists are walked element by element). */
export function applyNulls(data: Record<string, unknown>, paths: readonly string[][]): void {
  const apply = (node: unknown, path: readonly string[]): void => {
    if (Array.isArray(node)) {
      for (const item of node) apply(item, path);
      return;
    }
    if (node === null || typeof node !== 'object' || path.length === 0) return;
    const [key, ...rest] = path as [string, ...string[]];
    const object = node as Record<string, unknown>;
    if (rest.length === 0) {
      if (!(key in object)) object[key] = null;
      return;
    }
    apply(object[key], rest);
  };
  for (const path of paths) apply(data, path);
}
