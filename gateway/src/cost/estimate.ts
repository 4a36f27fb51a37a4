import {
  GraphQLError,
  Kind,
  SchemaMetaFieldDef,
  TypeMetaFieldDef,
  getNamedType,
  getNullableType,
  isAbstractType,
  isCompositeType,
  isListType,
  isObjectType,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLCompositeType,
  type GraphQLField,
  type GraphQLNamedType,
  type GraphQLObjectType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValueNode,
} from 'graphql';
import { argumentsCost as costOfArguments } from './arguments.js';
import { withVariableDefaults } from './variable-defaults.js';
import { argumentCoordinate, type CostModel, type ListSize } from './model.js';

/**
 * The static cost of an operation, before execution, following the IBM GraphQL Cost Directive
 * spec and Apollo's demand-control semantics:
 *
 * - a field costs `count × (weight + cost of its selections) + cost of its arguments`;
 * - `weight` is the field's `@cost`, else its type's `@cost`, else 1 for objects, interfaces and
 *   unions and 0 for scalars and enums;
 * - `count` is 1 for a non-list field; for a list, the size its parent's `@listSize(sizedFields:)`
 *   gives it, else the largest slicing argument (literal, variable, or the argument's default),
 *   else `assumedSize`, else the configured default list size;
 * - an argument costs its `@cost` (or its type's); an input object 1 plus its fields; a list the
 *   sum of its items; values come from literals or variables;
 * - fragments and inline fragments count as written; on an abstract type, the selections are
 *   costed for each possible type and the most expensive one counts (a single object is of one
 *   type), where Apollo Router sums them;
 * - `@skip` / `@include` are honoured, with variables; mutations add 10.
 */
export const MUTATION_BASE_COST = 10;

export interface EstimateOptions {
  operationName?: string | null | undefined;
  variables?: Readonly<Record<string, unknown>> | null | undefined;
  /** Size of a list with no `@listSize` information. */
  defaultListSize: number;
}

/** One field's part of the estimate (an explain line). */
export interface FieldCost {
  /** Response path, aliases included, e.g. `users.edges.node.orders`. */
  path: string;
  /** Schema coordinate, e.g. `Query.users`. */
  coordinate: string;
  count: number;
  weight: number;
  argumentsCost: number;
  /** Cost of the selections of one instance. */
  childrenCost: number;
  total: number;
}

export type CostViolation =
  | { code: 'LIST_SIZE_TOO_LARGE'; path: string; argument: string; value: number; max: number }
  | { code: 'SLICING_ARGUMENT_REQUIRED'; path: string; found: number; arguments: readonly string[] };

export interface CostEstimate {
  cost: number;
  /** Every costed field, in document order (for abstract types: the branch that counted). */
  fields: FieldCost[];
  /** Deepest field nesting (a root field is depth 1). */
  depth: number;
  /** Fields selected under an alias. */
  aliases: number;
  /** Fields selected on the root type. */
  rootFields: number;
  violations: CostViolation[];
}

interface Scored {
  cost: number;
  fields: FieldCost[];
}

const ZERO: Scored = { cost: 0, fields: [] };

export function estimateCost(schema: GraphQLSchema, model: CostModel, document: DocumentNode, options: EstimateOptions): CostEstimate {
  const operation = findOperation(document, options.operationName);
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }
  const rootType = schema.getRootType(operation.operation);
  if (!rootType) throw new GraphQLError(`The schema has no ${operation.operation} type.`);
  const variables = withVariableDefaults(operation, options.variables ?? {});
  const violations: CostViolation[] = [];
  const estimator = new Estimator(schema, model, fragments, variables, options.defaultListSize, violations);

  const scored = estimator.selectionSet(operation.selectionSet, rootType, '', undefined);
  const shape = measureShape(operation.selectionSet, fragments, variables);
  const base = operation.operation === 'mutation' ? MUTATION_BASE_COST : 0;
  return { cost: base + scored.cost, fields: scored.fields, ...shape, violations };
}

export function findOperation(document: DocumentNode, operationName: string | null | undefined): OperationDefinitionNode {
  const operations = document.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
  const operation = operationName
    ? operations.find((o) => o.name?.value === operationName)
    : operations.length === 1
      ? operations[0]
      : undefined;
  if (!operation)
    throw new GraphQLError(
      operationName ? `Unknown operation named "${operationName}".` : 'The operation to cost is ambiguous or missing.',
    );
  return operation;
}

class Estimator {
  constructor(
    private readonly schema: GraphQLSchema,
    private readonly model: CostModel,
    private readonly fragments: ReadonlyMap<string, FragmentDefinitionNode>,
    private readonly variables: Readonly<Record<string, unknown>>,
    private readonly defaultListSize: number,
    private readonly violations: CostViolation[],
  ) {}

  /**
   * Costs a selection set. On an object type every selection applies; on an abstract type each
   * possible type is costed on its own (its own field definitions, the fragments that apply to it)
   * and the most expensive one counts. `sized`: the `@listSize` of the field that owns this
   * selection set, for its `sizedFields`.
   */
  selectionSet(selectionSet: SelectionSetNode, parent: GraphQLCompositeType, path: string, sized: ResolvedListSize | undefined): Scored {
    if (isObjectType(parent)) return this.sumSelections(selectionSet, parent, path, sized);
    let best: Scored | undefined;
    for (const concrete of this.schema.getPossibleTypes(parent)) {
      const scored = this.sumSelections(selectionSet, concrete, path, sized);
      if (!best || scored.cost > best.cost) best = scored;
    }
    return best ?? ZERO;
  }

  /**
   * Sums the selections that apply to an object of type `concrete`. `visited`: the named fragments
   * already expanded into this selection set; a second spread of one adds nothing to the response
   * (graphql-js's field collection skips it too) and is not costed again. Without this, a document
   * of N fragments each spreading the next one twice took 2^N steps: a 600-byte request held the
   * event loop for seconds (found by test/attack.test.ts).
   */
  private sumSelections(
    selectionSet: SelectionSetNode,
    concrete: GraphQLObjectType,
    path: string,
    sized: ResolvedListSize | undefined,
    visited: Set<string> = new Set(),
  ): Scored {
    let cost = 0;
    const fields: FieldCost[] = [];
    const add = (scored: Scored) => {
      cost += scored.cost;
      fields.push(...scored.fields);
    };
    for (const selection of selectionSet.selections) {
      if (isSkipped(selection.directives, this.variables)) continue;
      if (selection.kind === Kind.FIELD) {
        add(this.field(selection, concrete, path, sized));
        continue;
      }
      if (selection.kind === Kind.FRAGMENT_SPREAD) {
        if (visited.has(selection.name.value)) continue;
        visited.add(selection.name.value);
      }
      const fragment = selection.kind === Kind.FRAGMENT_SPREAD ? this.fragments.get(selection.name.value) : selection;
      if (!fragment) continue;
      const condition = fragment.typeCondition ? this.schema.getType(fragment.typeCondition.name.value) : concrete;
      if (!condition || !this.applies(condition, concrete)) continue;
      add(this.sumSelections(fragment.selectionSet, concrete, path, sized, visited));
    }
    return { cost, fields };
  }

  private applies(condition: GraphQLNamedType, concrete: GraphQLObjectType): boolean {
    if (condition.name === concrete.name) return true;
    return isAbstractType(condition) && this.schema.isSubType(condition, concrete);
  }

  private field(node: FieldNode, parent: GraphQLObjectType, parentPath: string, sized: ResolvedListSize | undefined): Scored {
    const name = node.name.value;
    if (name === '__typename') return ZERO;
    const definition = this.fieldDefinition(parent, name);
    if (!definition) return ZERO; // not in the schema: validation reports it, not the estimator
    const path = parentPath ? `${parentPath}.${node.alias?.value ?? name}` : (node.alias?.value ?? name);
    const coordinate = `${parent.name}.${name}`;
    const namedType = getNamedType(definition.type);
    const isList = isListType(getNullableType(definition.type));

    const listSize = this.model.listSizes.get(coordinate);
    const resolved = this.resolveListSize(node, definition, parent.name, coordinate, path, listSize);
    const count = !isList ? 1 : (sized?.sizeOf(name) ?? resolved?.expected ?? this.defaultListSize);
    const weight = this.model.weights.get(coordinate) ?? this.model.weights.get(namedType.name) ?? (isCompositeType(namedType) ? 1 : 0);
    const children =
      node.selectionSet && isCompositeType(namedType) ? this.selectionSet(node.selectionSet, namedType, path, resolved) : ZERO;
    const argumentsCost = costOfArguments(node, definition, parent.name, this.model, this.variables);
    const total = count * (weight + children.cost) + argumentsCost;
    return {
      cost: total,
      fields: [{ path, coordinate, count, weight, argumentsCost, childrenCost: children.cost, total }, ...children.fields],
    };
  }

  private fieldDefinition(parent: GraphQLObjectType, name: string): GraphQLField<unknown, unknown> | undefined {
    return fieldDefinition(this.schema, parent, name);
  }

  /** Slicing arguments (defaults, then literals and variables) and argument limits. */
  private resolveListSize(
    node: FieldNode,
    definition: GraphQLField<unknown, unknown>,
    typeName: string,
    coordinate: string,
    path: string,
    listSize: ListSize | undefined,
  ): ResolvedListSize | undefined {
    const given = new Map<string, number>();
    for (const argumentDefinition of definition.args) {
      if (typeof argumentDefinition.defaultValue === 'number') given.set(argumentDefinition.name, argumentDefinition.defaultValue);
    }
    for (const argument of node.arguments ?? []) {
      const value = numericValue(argument.value, this.variables);
      if (value !== undefined) given.set(argument.name.value, value);
      else if (argument.value.kind === Kind.NULL) given.delete(argument.name.value);
    }
    for (const [argument, value] of given) {
      const limit = this.model.argumentLimits.get(argumentCoordinate(typeName, definition.name, argument));
      if (limit && value > limit.max) {
        this.violations.push({ code: 'LIST_SIZE_TOO_LARGE', path, argument, value, max: limit.max });
      }
    }
    if (!listSize) return undefined;
    let expected: number | undefined;
    if (listSize.slicingArguments?.length) {
      const slices = listSize.slicingArguments.filter((a) => given.has(a)).map((a) => given.get(a) as number);
      if (listSize.requireOneSlicingArgument && slices.length !== 1) {
        this.violations.push({ code: 'SLICING_ARGUMENT_REQUIRED', path, found: slices.length, arguments: listSize.slicingArguments });
      }
      if (slices.length) expected = Math.max(...slices.map((s) => Math.max(0, s)));
    }
    expected ??= listSize.assumedSize;
    return new ResolvedListSize(expected, listSize.sizedFields);
  }
}

class ResolvedListSize {
  constructor(
    readonly expected: number | undefined,
    private readonly sizedFields: readonly string[] | undefined,
  ) {}

  /** The size a child field gets from this `@listSize(sizedFields:)`, if it is one of them. */
  sizeOf(field: string): number | undefined {
    return this.sizedFields?.includes(field) ? this.expected : undefined;
  }
}

function numericValue(value: ValueNode, variables: Readonly<Record<string, unknown>>): number | undefined {
  if (value.kind === Kind.INT) return Number.parseInt(value.value, 10);
  if (value.kind === Kind.VARIABLE) {
    const variable = variables[value.name.value];
    return typeof variable === 'number' && Number.isFinite(variable) ? Math.trunc(variable) : undefined;
  }
  return undefined;
}

/** A field of a type, the introspection root fields (`__schema`, `__type`) on the query type included. */
export function fieldDefinition(
  schema: GraphQLSchema,
  parent: GraphQLCompositeType,
  name: string,
): GraphQLField<unknown, unknown> | undefined {
  if (parent === schema.getQueryType()) {
    if (name === SchemaMetaFieldDef.name) return SchemaMetaFieldDef;
    if (name === TypeMetaFieldDef.name) return TypeMetaFieldDef;
  }
  return 'getFields' in parent ? parent.getFields()[name] : undefined;
}

/** Whether `@skip(if:)` / `@include(if:)` remove a selection, with variables. */
export function isSkipped(directives: FieldNode['directives'], variables: Readonly<Record<string, unknown>>): boolean {
  for (const directive of directives ?? []) {
    const name = directive.name.value;
    if (name !== 'skip' && name !== 'include') continue;
    const argument = directive.arguments?.find((a) => a.name.value === 'if')?.value;
    let condition: unknown;
    if (argument?.kind === Kind.BOOLEAN) condition = argument.value;
    else if (argument?.kind === Kind.VARIABLE) condition = variables[argument.name.value];
    if (typeof condition !== 'boolean') continue; // unknown: keep the selection (an upper bound)
    if (name === 'skip' && condition) return true;
    if (name === 'include' && !condition) return true;
  }
  return false;
}

/**
 * Depth, aliases and root fields of an operation, fragments expanded, skipped selections left out.
 * Each named fragment is expanded once per selection set (`visited`, as graphql-js collects fields),
 * which also stops cycles.
 */
function measureShape(
  root: SelectionSetNode,
  fragments: ReadonlyMap<string, FragmentDefinitionNode>,
  variables: Readonly<Record<string, unknown>>,
): { depth: number; aliases: number; rootFields: number } {
  let depth = 0;
  let aliases = 0;
  let rootFields = 0;
  const walk = (selectionSet: SelectionSetNode, level: number, visited: Set<string>) => {
    for (const selection of selectionSet.selections) {
      if (isSkipped(selection.directives, variables)) continue;
      if (selection.kind === Kind.FIELD) {
        if (level === 1) rootFields++;
        if (selection.alias) aliases++;
        depth = Math.max(depth, level);
        if (selection.selectionSet) walk(selection.selectionSet, level + 1, new Set());
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        walk(selection.selectionSet, level, visited);
      } else if (!visited.has(selection.name.value)) {
        visited.add(selection.name.value);
        const fragment = fragments.get(selection.name.value);
        if (fragment) walk(fragment.selectionSet, level, visited);
      }
    }
  };
  walk(root, 1, new Set());
  return { depth, aliases, rootFields };
}
