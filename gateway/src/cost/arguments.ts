import {
  Kind,
  getNamedType,
  getNullableType,
  isInputObjectType,
  isListType,
  type FieldNode,
  type GraphQLField,
  type GraphQLInputType,
  type ValueNode,
} from 'graphql';
import { argumentCoordinate, type CostModel } from './model.js';

/**
 * The cost of a field's arguments: an argument costs its `@cost` (or its type's); an input object
 * 1 (or its `@cost`) plus its fields; a list its own `@cost` plus its items; null nothing. Values
 * come from literals or from the variables.
 */
export function argumentsCost(
  node: FieldNode,
  definition: GraphQLField<unknown, unknown>,
  typeName: string,
  model: CostModel,
  variables: Readonly<Record<string, unknown>>,
): number {
  let cost = 0;
  for (const argument of node.arguments ?? []) {
    const argumentDefinition = definition.args.find((a) => a.name === argument.name.value);
    if (!argumentDefinition) continue;
    const coordinate = argumentCoordinate(typeName, definition.name, argument.name.value);
    cost += literalCost(argument.value, argumentDefinition.type, coordinate, model, variables);
  }
  return cost;
}

function literalCost(
  value: ValueNode,
  type: GraphQLInputType,
  coordinate: string,
  model: CostModel,
  variables: Readonly<Record<string, unknown>>,
): number {
  if (value.kind === Kind.VARIABLE) return jsonCost(variables[value.name.value], type, coordinate, model);
  if (value.kind === Kind.NULL) return 0;
  const named = getNamedType(type);
  const weight = model.weights.get(coordinate) ?? model.weights.get(named.name);
  if (value.kind === Kind.LIST) {
    const item = unwrapList(type);
    return (weight ?? 0) + value.values.reduce((sum, v) => sum + literalCost(v, item, coordinate, model, variables), 0);
  }
  if (value.kind === Kind.OBJECT && isInputObjectType(named)) {
    const fields = named.getFields();
    let cost = weight ?? 1;
    for (const field of value.fields) {
      const definition = fields[field.name.value];
      if (definition) cost += literalCost(field.value, definition.type, `${named.name}.${field.name.value}`, model, variables);
    }
    return cost;
  }
  return weight ?? 0;
}

function jsonCost(value: unknown, type: GraphQLInputType, coordinate: string, model: CostModel): number {
  if (value === undefined || value === null) return 0;
  const named = getNamedType(type);
  const weight = model.weights.get(coordinate) ?? model.weights.get(named.name);
  if (Array.isArray(value)) {
    const item = unwrapList(type);
    return (weight ?? 0) + value.reduce((sum: number, v) => sum + jsonCost(v, item, coordinate, model), 0);
  }
  if (typeof value === 'object' && isInputObjectType(named)) {
    const fields = named.getFields();
    let cost = weight ?? 1;
    for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
      const definition = fields[key];
      if (definition) cost += jsonCost(item, definition.type, `${named.name}.${key}`, model);
    }
    return cost;
  }
  return weight ?? 0;
}

function unwrapList(type: GraphQLInputType): GraphQLInputType {
  const nullable = getNullableType(type);
  return isListType(nullable) ? (nullable.ofType as GraphQLInputType) : type;
}
