import {
  ERRORS,
  Variable,
  isCompositeType,
  isCustomScalarType,
  isEnumType,
  isListType,
  isNonNullType,
  isObjectType,
  isSubtype,
  typenameFieldName,
  type CompositeType,
  type FieldSelection,
  type NamedType,
  type Operation,
  type Schema,
  type Selection,
  type SelectionSet,
  type Type,
} from '@apollo/federation-internals';
import type { GraphQLError } from 'graphql';
import { ResponseObject } from './response-object.js';

/** What `@apollo/gateway`'s `computeResponse` takes (`resultShaping.ts`, not exported by the package's types). */
export interface ComputeResponseInput {
  operation: Operation;
  variables?: Record<string, unknown>;
  input: Record<string, unknown> | null | undefined;
  introspectionHandling: (selection: FieldSelection) => unknown;
}

export interface ComputeResponseOutput {
  data: Record<string, unknown> | null | undefined;
  errors: GraphQLError[];
}

type Dict = Record<string, unknown>;

const enum Leaf {
  /** a custom scalar: any value */
  Any,
  Boolean,
  /** Int or ID: a number must be an integer */
  Integer,
  Float,
  /** String: any string */
  String,
  Enum,
}

/** One selection of a selection set, with what its every visit needs read once per request. */
type Step =
  | {
      kind: 'field';
      selection: FieldSelection;
      responseName: string;
      /** __schema / __type: answered by the introspection handler */
      introspection: boolean;
      typename: boolean;
      type: Type;
      selectionSet: SelectionSet | undefined;
    }
  | { kind: 'fragment'; typeCondition: CompositeType | undefined; selectionSet: SelectionSet };

const hasOwn = Object.prototype.hasOwnProperty;

function lastPathElementDescription(path: (string | number)[], currentType: Type, parentType: CompositeType): string {
  const element = path[path.length - 1];
  if (element === undefined) throw new Error('Should not have been called on an empty path');
  return typeof element === 'string' ? `field ${parentType}.${element}` : `array element of type ${currentType} at index ${element}`;
}

/**
 * The response of one operation, shaped from the data its plan fetched: `@apollo/gateway`'s
 * `computeResponse`, value for value, error for error. What differs is the cost: Apollo's walk
 * allocates a parameter object and a result object for every value it shapes, a new array per list,
 * and reads each selection's directives, type and name again for every object it meets; under a
 * cross-subgraph load that was most of the gateway's garbage. This one reads each selection set
 * once per request and allocates only the response.
 */
class ResultShaper {
  readonly errors: GraphQLError[] = [];
  /** Set by `update()` for its caller: the value broke a non-null position (bubble the null up). */
  private invalid = false;
  /** Set by `update()` for its caller: an error was recorded for the value. */
  private failed = false;
  private readonly steps = new Map<SelectionSet, Step[]>();
  private readonly leaves = new Map<NamedType, Leaf>();
  private readonly path: (string | number)[] = [];

  constructor(
    private readonly schema: Schema,
    private readonly variables: Dict,
    private readonly introspection: (selection: FieldSelection) => unknown,
  ) {}

  /** Returns false when a null must bubble up past `output`. */
  applySelectionSet(input: Dict, selectionSet: SelectionSet, output: Dict, parentType: CompositeType): boolean {
    const steps = this.steps.get(selectionSet) ?? this.compile(selectionSet);
    for (let i = 0; i < steps.length; i++) {
      const step = steps[i] as Step;
      if (step.kind === 'field') {
        const responseName = step.responseName;
        const outputValue = output[responseName];
        if (step.introspection) {
          if (outputValue === undefined) output[responseName] = this.introspection(step.selection);
          continue;
        }
        let inputValue = hasOwn.call(input, responseName) ? (input[responseName] ?? null) : null;
        if (step.typename) {
          if (outputValue === undefined) {
            if (inputValue === null && responseName !== typenameFieldName) inputValue = input[typenameFieldName] ?? null;
            const type = inputValue !== null && typeof inputValue === 'string' ? (this.schema.type(inputValue) ?? parentType) : parentType;
            if (!isObjectType(type)) return false;
            output[responseName] = type.name;
          }
          continue;
        }
        this.path.push(responseName);
        output[responseName] = this.update(outputValue, step.type, inputValue, step.selectionSet, parentType);
        this.path.pop();
        if (this.invalid) return false;
      } else {
        const typename = input[typenameFieldName];
        if (typename && typeof typename !== 'string') throw new Error(`Got unexpected value for __typename: ${String(typename)}`);
        if (this.typeConditionApplies(step.typeCondition, typename, parentType)) {
          if (!this.applySelectionSet(input, step.selectionSet, output, step.typeCondition ?? parentType)) return false;
        }
      }
    }
    return true;
  }

  /** The shaped value; `this.invalid` and `this.failed` say how it went. */
  private update(
    outputValue: unknown,
    type: Type,
    inputValue: unknown,
    selectionSet: SelectionSet | undefined,
    parentType: CompositeType,
  ): unknown {
    if (inputValue === undefined) throw new Error('Should not pass undefined for `inputValue` to this method');
    this.invalid = false;
    this.failed = false;
    if (outputValue === null || (outputValue !== undefined && !selectionSet)) return outputValue;
    if (isNonNullType(type)) {
      const updated = this.update(outputValue, type.ofType, inputValue, selectionSet, parentType);
      if (updated === null) {
        if (!this.failed) {
          this.errors.push(
            ERRORS.INVALID_GRAPHQL.err(
              `Cannot return null for non-nullable ${lastPathElementDescription(this.path, type.ofType, parentType)}.`,
              {
                path: Array.from(this.path),
              },
            ),
          );
        }
        this.invalid = true;
        this.failed = true;
        return updated;
      }
      this.invalid = false;
      this.failed = false;
      return updated;
    }
    if (inputValue === null) return null;
    if (isListType(type)) {
      if (!Array.isArray(inputValue))
        throw new Error(`Invalid non-list value ${String(inputValue)} returned by subgraph for list type ${type}`);
      if (outputValue !== undefined && !Array.isArray(outputValue))
        throw new Error(`Invalid non-list value ${String(outputValue)} returned by subgraph for list type ${type}`);
      const length = inputValue.length;
      const previous = outputValue as unknown[] | undefined;
      if (previous !== undefined && previous.length !== length)
        throw new Error(`[${String(inputValue)}].length (${length}) !== [${String(previous)}].length (${previous?.length})`);
      const updated: unknown[] = [];
      let nullify = false;
      let failed = false;
      for (let index = 0; index < length; index++) {
        this.path.push(index);
        updated.push(
          this.update(previous === undefined ? undefined : previous[index], type.ofType, inputValue[index], selectionSet, parentType),
        );
        this.path.pop();
        nullify ||= this.invalid;
        failed ||= this.failed;
      }
      this.invalid = false;
      this.failed = failed;
      return nullify ? null : updated;
    }
    if (isCompositeType(type)) {
      if (selectionSet === undefined) throw new Error(`Invalid empty selection set for composite type ${type}`);
      if (typeof inputValue !== 'object')
        throw new Error(`Invalid non-object value ${String(inputValue)} returned by subgraph for composite type ${type}`);
      if (outputValue !== undefined && typeof outputValue !== 'object')
        throw new Error(`Invalid non-object value ${String(inputValue)} returned by subgraph for composite type ${type}`);
      const input = inputValue as Dict;
      const inputTypename = input[typenameFieldName];
      if (inputTypename !== undefined && typeof inputTypename !== 'string')
        throw new Error(`Invalid non-string value ${String(inputTypename)} for __typename at ${String(this.path)}`);
      let objectType: CompositeType = type;
      if (inputTypename) {
        const typenameType = this.schema.type(inputTypename);
        if (!typenameType || !isCompositeType(typenameType)) {
          this.errors.push(
            ERRORS.INVALID_GRAPHQL.err(
              `Invalid __typename found for object at ${lastPathElementDescription(this.path, type, parentType)}.`,
              {
                path: Array.from(this.path),
              },
            ),
          );
          this.failed = true;
          return null;
        }
        objectType = typenameType;
      }
      const output = outputValue === undefined ? new ResponseObject() : (outputValue as Dict);
      const ok = this.applySelectionSet(input, selectionSet, output, objectType);
      this.invalid = false;
      this.failed = !ok;
      return ok ? output : null;
    }
    if (outputValue !== undefined) throw new Error(`Excepted output to be undefined but got ${type} for type ${type}`);
    if (this.isValidLeaf(inputValue, type)) return inputValue;
    this.errors.push(
      ERRORS.INVALID_GRAPHQL.err(`Invalid value found for ${lastPathElementDescription(this.path, type, parentType)}.`, {
        path: Array.from(this.path),
      }),
    );
    this.failed = true;
    return null;
  }

  /** `@apollo/federation-internals`' `isValidLeafValue`, with the kind of each type read once. */
  private isValidLeaf(value: unknown, type: NamedType): boolean {
    let leaf = this.leaves.get(type);
    if (leaf === undefined) {
      leaf = this.leafKind(type);
      this.leaves.set(type, leaf);
    }
    if (leaf === Leaf.Any) return true;
    if (typeof value === 'boolean') return leaf === Leaf.Boolean;
    if (typeof value === 'number' && Number.isFinite(value)) {
      // Apollo tests String(value) against /^-?(?:0|[1-9][0-9]*)$/: an integer below 1e21 (above, it prints an exponent).
      if (leaf === Leaf.Integer) return Number.isInteger(value) && Math.abs(value) < 1e21;
      return leaf === Leaf.Float;
    }
    if (typeof value === 'string') {
      if (leaf === Leaf.Enum) return isEnumType(type) && type.value(value) !== undefined;
      return leaf !== Leaf.Boolean && leaf !== Leaf.Float && !(leaf === Leaf.Integer && type === this.schema.intType());
    }
    return false;
  }

  private leafKind(type: NamedType): Leaf {
    if (isCustomScalarType(type)) return Leaf.Any;
    if (isEnumType(type)) return Leaf.Enum;
    const schema = this.schema;
    if (type === schema.booleanType()) return Leaf.Boolean;
    if (type === schema.intType() || type === schema.idType()) return Leaf.Integer;
    if (type === schema.floatType()) return Leaf.Float;
    return Leaf.String;
  }

  private typeConditionApplies(typeCondition: CompositeType | undefined, typename: unknown, parentType: CompositeType): boolean {
    if (!typeCondition) return true;
    if (typename) {
      const type = this.schema.type(typename as string);
      return !!type && isSubtype(typeCondition, type);
    }
    return isSubtype(typeCondition, parentType);
  }

  private compile(selectionSet: SelectionSet): Step[] {
    const steps: Step[] = [];
    for (const selection of selectionSet.selections()) {
      if (this.skipped(selection)) continue;
      if (selection.kind === 'FieldSelection') {
        const field = selection.element;
        steps.push({
          kind: 'field',
          selection,
          responseName: field.responseName(),
          introspection: field.definition.isSchemaIntrospectionField(),
          typename: field.name === typenameFieldName,
          type: field.definition.type as Type,
          selectionSet: selection.selectionSet,
        });
      } else {
        steps.push({ kind: 'fragment', typeCondition: selection.element.typeCondition, selectionSet: selection.selectionSet });
      }
    }
    this.steps.set(selectionSet, steps);
    return steps;
  }

  private skipped(selection: Selection): boolean {
    const element = selection.element;
    const skip = element.appliedDirectivesOf(this.schema.skipDirective())[0];
    const include = element.appliedDirectivesOf(this.schema.includeDirective())[0];
    return (!!skip && this.ifValue(skip)) || (!!include && !this.ifValue(include));
  }

  private ifValue(directive: { arguments(): { if?: unknown } }): boolean {
    const ifArg = directive.arguments().if;
    if (ifArg instanceof Variable) {
      const value = this.variables[ifArg.name];
      if (typeof value !== 'boolean') throw new Error(`Unexpected value ${String(value)} for variable ${ifArg} of ${String(directive)}`);
      return value;
    }
    return ifArg as boolean;
  }
}

export function computeResponse({ operation, variables, input, introspectionHandling }: ComputeResponseInput): ComputeResponseOutput {
  if (!input) return { data: input, errors: [] };
  const schema = operation.schema();
  const shaper = new ResultShaper(
    schema,
    { __proto__: null, ...operation.collectDefaultedVariableValues(), ...variables } as Dict,
    introspectionHandling,
  );
  const data = new ResponseObject();
  const ok = shaper.applySelectionSet(
    input,
    operation.selectionSet,
    data,
    schema.schemaDefinition.rootType(operation.rootKind) as CompositeType,
  );
  return { data: ok ? data : null, errors: shaper.errors };
}
