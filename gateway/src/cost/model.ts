import {
  Kind,
  type ConstDirectiveNode,
  type ConstValueNode,
  type DocumentNode,
  type FieldDefinitionNode,
  type InputValueDefinitionNode,
} from 'graphql';
import { linkedDirectiveName } from '../supergraph/links.js';

/** `@listSize` as the IBM cost spec defines it. */
export interface ListSize {
  assumedSize?: number | undefined;
  slicingArguments?: readonly string[] | undefined;
  sizedFields?: readonly string[] | undefined;
  /** Spec default: true. */
  requireOneSlicingArgument: boolean;
}

/**
 * The cost directives of a schema, keyed by coordinate: `Type` (types, scalars, enums),
 * `Type.field` (fields and input fields), `Type.field(arg:)` (arguments), and per-argument limits
 * (from `schema/costs.yaml`) under `Type.field(arg:)`.
 */
export interface CostModel {
  weights: Map<string, number>;
  listSizes: Map<string, ListSize>;
  argumentLimits: Map<string, { max: number }>;
}

export const COST_SPEC = 'https://specs.apollo.dev/cost';

export function emptyCostModel(): CostModel {
  return { weights: new Map(), listSizes: new Map(), argumentLimits: new Map() };
}

export const argumentCoordinate = (type: string, field: string, argument: string) => `${type}.${field}(${argument}:)`;

/**
 * Reads `@cost` and `@listSize` from a supergraph (or any schema that links the cost spec, or uses
 * the bare directive names when it links nothing). Names are resolved through `@link`.
 */
export function costModelFromSdl(document: DocumentNode): CostModel {
  const costName = linkedDirectiveName(document, COST_SPEC, 'cost') ?? 'cost';
  const listSizeName = linkedDirectiveName(document, COST_SPEC, 'listSize') ?? 'listSize';
  const model = emptyCostModel();
  const weightOf = (directives: readonly ConstDirectiveNode[] | undefined) => {
    const directive = directives?.find((d) => d.name.value === costName);
    const weight = directive && argumentValue(directive, 'weight');
    return typeof weight === 'number' ? weight : undefined;
  };
  const record = (coordinate: string, directives: readonly ConstDirectiveNode[] | undefined) => {
    const weight = weightOf(directives);
    if (weight !== undefined) model.weights.set(coordinate, weight);
  };
  const recordField = (type: string, field: FieldDefinitionNode | InputValueDefinitionNode) => {
    record(`${type}.${field.name.value}`, field.directives);
    const listSize = field.directives?.find((d) => d.name.value === listSizeName);
    if (listSize) model.listSizes.set(`${type}.${field.name.value}`, parseListSize(listSize));
    if (field.kind === Kind.FIELD_DEFINITION) {
      for (const argument of field.arguments ?? []) {
        record(argumentCoordinate(type, field.name.value, argument.name.value), argument.directives);
      }
    }
  };

  for (const definition of document.definitions) {
    switch (definition.kind) {
      case Kind.OBJECT_TYPE_DEFINITION:
      case Kind.OBJECT_TYPE_EXTENSION:
      case Kind.INTERFACE_TYPE_DEFINITION:
      case Kind.INTERFACE_TYPE_EXTENSION:
        record(definition.name.value, definition.directives);
        for (const field of definition.fields ?? []) recordField(definition.name.value, field);
        break;
      case Kind.INPUT_OBJECT_TYPE_DEFINITION:
      case Kind.INPUT_OBJECT_TYPE_EXTENSION:
        record(definition.name.value, definition.directives);
        for (const field of definition.fields ?? []) recordField(definition.name.value, field);
        break;
      case Kind.SCALAR_TYPE_DEFINITION:
      case Kind.ENUM_TYPE_DEFINITION:
      case Kind.UNION_TYPE_DEFINITION:
        record(definition.name.value, definition.directives);
        break;
      default:
        break;
    }
  }
  return model;
}

function parseListSize(directive: ConstDirectiveNode): ListSize {
  const assumedSize = argumentValue(directive, 'assumedSize');
  const slicing = argumentValue(directive, 'slicingArguments');
  const sized = argumentValue(directive, 'sizedFields');
  const requireOne = argumentValue(directive, 'requireOneSlicingArgument');
  return {
    assumedSize: typeof assumedSize === 'number' ? assumedSize : undefined,
    slicingArguments: Array.isArray(slicing) ? slicing.filter((s): s is string => typeof s === 'string') : undefined,
    sizedFields: Array.isArray(sized) ? sized.filter((s): s is string => typeof s === 'string') : undefined,
    requireOneSlicingArgument: typeof requireOne === 'boolean' ? requireOne : true,
  };
}

function argumentValue(directive: ConstDirectiveNode, name: string): unknown {
  const node = directive.arguments?.find((a) => a.name.value === name)?.value;
  return node ? constValue(node) : undefined;
}

function constValue(node: ConstValueNode): unknown {
  switch (node.kind) {
    case Kind.INT:
      return Number.parseInt(node.value, 10);
    case Kind.FLOAT:
      return Number.parseFloat(node.value);
    case Kind.STRING:
    case Kind.ENUM:
      return node.value;
    case Kind.BOOLEAN:
      return node.value;
    case Kind.NULL:
      return null;
    case Kind.LIST:
      return node.values.map(constValue);
    case Kind.OBJECT:
      return Object.fromEntries(node.fields.map((f) => [f.name.value, constValue(f.value)]));
  }
}
