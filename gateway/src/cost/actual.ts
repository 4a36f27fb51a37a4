import {
  Kind,
  getNamedType,
  isAbstractType,
  isCompositeType,
  isObjectType,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLCompositeType,
  type GraphQLSchema,
  type SelectionSetNode,
} from 'graphql';
import { withVariableDefaults } from './variable-defaults.js';
import { MUTATION_BASE_COST, fieldDefinition, findOperation, isSkipped } from './estimate.js';
import { argumentsCost } from './arguments.js';
import type { CostModel } from './model.js';
import { isRecord } from '../records.js';

/**
 * The cost of what a response actually returned, by the same model as the estimate: each object,
 * list item and weighted scalar that is in `data` costs its weight, real list lengths replace the
 * estimated ones, and fields that came back null cost nothing below them. Arguments cost what
 * they cost in the estimate, once per parent object. The unused part of the estimate is refunded.
 */
export function actualCost(
  schema: GraphQLSchema,
  model: CostModel,
  document: DocumentNode,
  options: { operationName?: string | null | undefined; variables?: Readonly<Record<string, unknown>> | null | undefined },
  data: unknown,
  plans: ActualCostPlans = new ActualCostPlans(),
): number {
  const operation = findOperation(document, options.operationName);
  const rootType = schema.getRootType(operation.operation);
  if (!rootType || !isRecord(data)) return 0;
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }
  const walker = new ResponseWalker(schema, model, fragments, withVariableDefaults(operation, options.variables ?? {}), plans);
  const base = operation.operation === 'mutation' ? MUTATION_BASE_COST : 0;
  return base + walker.object(operation.selectionSet, rootType, data);
}

interface CollectedField {
  nodes: FieldNode[];
  /** The type the field was selected on (a fragment's type condition, or the parent). */
  parent: GraphQLCompositeType;
}

/** What one response key costs, worked out once per selection set and type, not once per object. */
interface FieldPlan {
  key: string;
  /** Cost of the field's arguments, paid once per parent object that has the key. */
  argumentsCost: number;
  /** Cost of each non-null value (each item of a list). */
  weight: number;
  /** For object values: the selections below and their type. */
  child?: { selections: readonly SelectionSetNode[]; type: GraphQLCompositeType } | undefined;
  /** The child's plans when its type is an object type (the same for every object below), once worked out. */
  childPlans?: FieldPlan[] | undefined;
}

type Selections = SelectionSetNode | readonly SelectionSetNode[];

/**
 * What the walk works out per selection set, parent type and runtime type: each response key's
 * weight, arguments' cost and child selections. It depends on the document, the schema, the cost
 * model and the variables that can change a cost (@skip/@include conditions, weighted arguments):
 * exactly what keys a cached cost estimate, so the cost plugin keeps one per estimate and a
 * repeated operation walks its response without working any plan out again.
 */
export class ActualCostPlans {
  /** By selection set (or the merged selection sets of one field), parent type and runtime type (null: unknown). */
  readonly bySelections = new WeakMap<object, Map<GraphQLCompositeType, Map<GraphQLCompositeType | null, FieldPlan[]>>>();
  /** Plans worked out (not found), for the tests and the curious. */
  built = 0;

  private static readonly kept = new WeakMap<object, ActualCostPlans>();

  /** The store kept with `owner` (a cached cost estimate), made on first use and dropped with it. */
  static keptWith(owner: object): ActualCostPlans {
    let plans = ActualCostPlans.kept.get(owner);
    if (!plans) ActualCostPlans.kept.set(owner, (plans = new ActualCostPlans()));
    return plans;
  }
}

class ResponseWalker {
  constructor(
    private readonly schema: GraphQLSchema,
    private readonly model: CostModel,
    private readonly fragments: ReadonlyMap<string, FragmentDefinitionNode>,
    private readonly variables: Readonly<Record<string, unknown>>,
    // Looked up by identity (no key string built per object), once per object of an abstract type.
    private readonly plans: ActualCostPlans,
  ) {}

  object(selections: Selections, parent: GraphQLCompositeType, data: Record<string, unknown>): number {
    return this.fields(this.plan(selections, parent, this.runtimeType(parent, data)), data);
  }

  private fields(plans: readonly FieldPlan[], data: Record<string, unknown>): number {
    let cost = 0;
    for (const plan of plans) {
      if (!(plan.key in data)) continue;
      cost += plan.argumentsCost + this.value(plan, data[plan.key]);
    }
    return cost;
  }

  private value(plan: FieldPlan, value: unknown): number {
    if (value === null || value === undefined) return 0;
    if (Array.isArray(value)) {
      let sum = 0;
      for (const item of value) sum += this.value(plan, item);
      return sum;
    }
    if (!plan.child || !isRecord(value)) return plan.weight;
    const { selections, type } = plan.child;
    // Below an object type every object has that type: look its plans up once, not once per object.
    if (isObjectType(type)) return plan.weight + this.fields((plan.childPlans ??= this.plan(selections, type, type)), value);
    return plan.weight + this.object(selections, type, value);
  }

  private plan(selections: Selections, parent: GraphQLCompositeType, runtime: GraphQLCompositeType | undefined): FieldPlan[] {
    let byParent = this.plans.bySelections.get(selections);
    if (!byParent) {
      byParent = new Map();
      this.plans.bySelections.set(selections, byParent);
    }
    let byRuntime = byParent.get(parent);
    if (!byRuntime) {
      byRuntime = new Map();
      byParent.set(parent, byRuntime);
    }
    const cached = byRuntime.get(runtime ?? null);
    if (cached) return cached;
    this.plans.built++;
    const plans: FieldPlan[] = [];
    for (const [key, { nodes, parent: selectedOn }] of this.collect(selections, runtime ?? parent, runtime)) {
      const first = nodes[0] as FieldNode;
      if (first.name.value === '__typename') continue;
      const owner = runtime ?? selectedOn;
      const definition = fieldDefinition(this.schema, owner, first.name.value);
      if (!definition) continue;
      const namedType = getNamedType(definition.type);
      const coordinate = `${owner.name}.${first.name.value}`;
      const weight = this.model.weights.get(coordinate) ?? this.model.weights.get(namedType.name) ?? (isCompositeType(namedType) ? 1 : 0);
      const childSelections = nodes.flatMap((node) => (node.selectionSet ? [node.selectionSet] : []));
      plans.push({
        key,
        argumentsCost: argumentsCost(first, definition, owner.name, this.model, this.variables),
        weight,
        child: isCompositeType(namedType) && childSelections.length ? { selections: childSelections, type: namedType } : undefined,
      });
    }
    byRuntime.set(runtime ?? null, plans);
    return plans;
  }

  /** Fields by response key, merged across fragments and repeated selections (as execution does). */
  private collect(
    selectionSets: Selections,
    parent: GraphQLCompositeType,
    runtime: GraphQLCompositeType | undefined,
    into = new Map<string, CollectedField>(),
    // Named fragments already collected here: a repeated spread adds nothing (as in graphql-js), and
    // expanding it again made fragment-doubling documents exponential.
    visited = new Set<string>(),
  ): Map<string, CollectedField> {
    for (const selectionSet of Array.isArray(selectionSets) ? selectionSets : [selectionSets]) {
      for (const selection of (selectionSet as SelectionSetNode).selections) {
        if (isSkipped(selection.directives, this.variables)) continue;
        if (selection.kind === Kind.FIELD) {
          const key = selection.alias?.value ?? selection.name.value;
          const entry = into.get(key);
          if (entry) entry.nodes.push(selection);
          else into.set(key, { nodes: [selection], parent });
          continue;
        }
        if (selection.kind === Kind.FRAGMENT_SPREAD) {
          if (visited.has(selection.name.value)) continue;
          visited.add(selection.name.value);
        }
        const fragment = selection.kind === Kind.FRAGMENT_SPREAD ? this.fragments.get(selection.name.value) : selection;
        if (!fragment) continue;
        const condition = fragment.typeCondition ? this.schema.getType(fragment.typeCondition.name.value) : parent;
        if (!condition || !isCompositeType(condition)) continue;
        // With a known runtime type, fragments for other types did not apply.
        if (runtime && isObjectType(runtime) && condition.name !== runtime.name) {
          if (!isAbstractType(condition) || !this.schema.isSubType(condition, runtime)) continue;
        }
        this.collect(fragment.selectionSet, condition, runtime, into, visited);
      }
    }
    return into;
  }

  /** The object's concrete type when the response says it (`__typename`) or the type is concrete. */
  private runtimeType(parent: GraphQLCompositeType, data: Record<string, unknown>): GraphQLCompositeType | undefined {
    if (isObjectType(parent)) return parent;
    const typename = data.__typename;
    const type = typeof typename === 'string' ? this.schema.getType(typename) : undefined;
    return type && isObjectType(type) ? type : undefined;
  }
}
