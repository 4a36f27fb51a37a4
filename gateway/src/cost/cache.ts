import {
  Kind,
  TypeInfo,
  getNamedType,
  getNullableType,
  isAbstractType,
  isInputObjectType,
  isListType,
  visit,
  visitWithTypeInfo,
  type DocumentNode,
  type GraphQLArgument,
  type GraphQLSchema,
  type ValueNode,
} from 'graphql';
import { LRUCache } from 'lru-cache';
import type { CostEstimate } from './estimate.js';
import { argumentCoordinate, type CostModel } from './model.js';

/** How a variable can change an estimate, hence what of its value goes into the cache key. */
type VariableRole = 'number' | 'boolean' | 'json' | 'nullness';

/**
 * Estimates by document, operation and the variables that can change them, so that a repeated
 * operation costs no re-analysis. Variables that cannot change the cost (a pagination cursor, an
 * id) are not part of the key: `users(first: 10, after: $cursor)` is analysed once for all pages.
 * Cleared when the schema or the cost model changes (a new cache per model).
 */
export class CostEstimateCache {
  private readonly roles: LRUCache<string, ReadonlyMap<string, VariableRole>>;
  private readonly estimates: LRUCache<string, CostEstimate>;
  hits = 0;
  misses = 0;

  constructor(
    private readonly schema: GraphQLSchema,
    private readonly model: CostModel,
    maxEntries = 5_000,
  ) {
    this.roles = new LRUCache({ max: maxEntries });
    this.estimates = new LRUCache({ max: maxEntries });
  }

  /**
   * The estimate for this request, computed by `estimate` only on a miss.
   * `documentKey` identifies the document (e.g. Apollo's query hash).
   */
  get(
    documentKey: string,
    document: DocumentNode,
    operationName: string | null | undefined,
    variables: Readonly<Record<string, unknown>> | null | undefined,
    estimate: () => CostEstimate,
  ): CostEstimate {
    const operationKey = `${documentKey}\u0000${operationName ?? ''}`;
    let roles = this.roles.get(operationKey);
    if (!roles) {
      roles = variableRoles(this.schema, this.model, document);
      this.roles.set(operationKey, roles);
    }
    const key = `${operationKey}\u0000${projectVariables(roles, variables ?? {})}`;
    const cached = this.estimates.get(key);
    if (cached) {
      this.hits++;
      return cached;
    }
    this.misses++;
    const fresh = estimate();
    this.estimates.set(key, fresh);
    return fresh;
  }
}

function projectVariables(roles: ReadonlyMap<string, VariableRole>, variables: Readonly<Record<string, unknown>>): string {
  const parts: string[] = [];
  for (const [name, role] of roles) {
    const value = variables[name];
    if (role === 'nullness') parts.push(value === null || value === undefined ? '0' : '1');
    else if (role === 'number') parts.push(typeof value === 'number' ? String(Math.trunc(value)) : '-');
    else if (role === 'boolean') parts.push(typeof value === 'boolean' ? String(value) : '-');
    else parts.push(JSON.stringify(value ?? null));
  }
  return parts.join('\u0001');
}

/** Which variables of a document can change its cost, and how (every operation and fragment in it). */
export function variableRoles(schema: GraphQLSchema, model: CostModel, document: DocumentNode): Map<string, VariableRole> {
  const roles = new Map<string, VariableRole>();
  const assign = (name: string, role: VariableRole) => {
    const current = roles.get(name);
    // json says the most, then number/boolean, then nullness.
    if (!current || role === 'json' || (current === 'nullness' && role !== 'nullness')) roles.set(name, role);
  };
  const typeInfo = new TypeInfo(schema);
  visit(
    document,
    visitWithTypeInfo(typeInfo, {
      Directive(node) {
        if (node.name.value !== 'skip' && node.name.value !== 'include') return;
        const condition = node.arguments?.find((a) => a.name.value === 'if')?.value;
        if (condition?.kind === Kind.VARIABLE) assign(condition.name.value, 'boolean');
      },
      Argument(node) {
        const argument = typeInfo.getArgument();
        const field = typeInfo.getFieldDef();
        const parent = typeInfo.getParentType();
        if (!argument || !field || !parent || typeInfo.getDirective()) return;
        const variablesIn = collectVariables(node.value);
        if (variablesIn.length === 0) return;
        if (node.value.kind !== Kind.VARIABLE) {
          for (const name of variablesIn) assign(name, 'json');
          return;
        }
        // The field's coordinates on the parent and, for an abstract parent, on every possible type.
        const owners = isAbstractType(parent) ? [parent.name, ...schema.getPossibleTypes(parent).map((t) => t.name)] : [parent.name];
        const role = roleOf(argument, owners, field.name, model);
        if (role) assign(node.value.name.value, role);
      },
    }),
  );
  return roles;
}

/** Undefined: the variable's value cannot change the cost (an unweighted scalar such as a cursor). */
function roleOf(argument: GraphQLArgument, owners: string[], field: string, model: CostModel): VariableRole | undefined {
  const named = getNamedType(argument.type);
  if (isListType(getNullableType(argument.type)) || isInputObjectType(named)) return 'json';
  for (const owner of owners) {
    const slicing = model.listSizes.get(`${owner}.${field}`)?.slicingArguments?.includes(argument.name);
    if (slicing || model.argumentLimits.has(argumentCoordinate(owner, field, argument.name))) return 'number';
  }
  const weighted = owners.some((owner) => (model.weights.get(argumentCoordinate(owner, field, argument.name)) ?? 0) !== 0);
  return weighted || (model.weights.get(named.name) ?? 0) !== 0 ? 'nullness' : undefined;
}

function collectVariables(value: ValueNode): string[] {
  if (value.kind === Kind.VARIABLE) return [value.name.value];
  if (value.kind === Kind.LIST) return value.values.flatMap(collectVariables);
  if (value.kind === Kind.OBJECT) return value.fields.flatMap((f) => collectVariables(f.value));
  return [];
}
