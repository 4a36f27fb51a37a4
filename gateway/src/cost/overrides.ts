import { readFileSync } from 'node:fs';
import { getNamedType, isInputObjectType, isObjectType, isInterfaceType, type GraphQLSchema } from 'graphql';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { CostModel, ListSize } from './model.js';

/**
 * `schema/costs.yaml`: cost settings that win over the directives in the supergraph, so operators
 * can tune costs and limits without touching subgraphs. Coordinates follow GraphQL schema
 * coordinates: `Type`, `Type.field`, `Type.field(argument:)`.
 *
 * ```yaml
 * types:     { Money: { weight: 3 } }
 * fields:    { Query.users: { weight: 1, listSize: { slicingArguments: [first], sizedFields: [edges] } } }
 * arguments: { "Query.users(first:)": { max: 100 } }   # over the max: LIST_SIZE_TOO_LARGE
 * ```
 */
const ListSizeOverride = z
  .object({
    assumedSize: z.number().int().nonnegative().optional(),
    slicingArguments: z.array(z.string().min(1)).optional(),
    sizedFields: z.array(z.string().min(1)).optional(),
    requireOneSlicingArgument: z.boolean().optional(),
  })
  .strict();

export const CostOverridesSchema = z
  .object({
    types: z.record(z.string(), z.object({ weight: z.number().int().nonnegative() }).strict()).default({}),
    fields: z
      .record(
        z.string().regex(/^\w+\.\w+$/, 'must be Type.field'),
        z.object({ weight: z.number().int().nonnegative().optional(), listSize: ListSizeOverride.optional() }).strict(),
      )
      .default({}),
    arguments: z
      .record(
        z.string().regex(/^\w+\.\w+\(\w+:\)$/, 'must be Type.field(argument:)'),
        z.object({ weight: z.number().int().nonnegative().optional(), max: z.number().int().nonnegative().optional() }).strict(),
      )
      .default({}),
  })
  .strict();

export type CostOverrides = z.output<typeof CostOverridesSchema>;

const KEY_FORMS: Record<string, string> = { types: 'Type', fields: 'Type.field', arguments: 'Type.field(argument:)' };

export class CostOverridesError extends Error {
  override readonly name = 'CostOverridesError';
}

export function readCostOverrides(path: string): CostOverrides {
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(path, 'utf8')) ?? {};
  } catch (error) {
    throw new CostOverridesError(`cannot read cost overrides ${path}: ${(error as Error).message}`);
  }
  const result = CostOverridesSchema.safeParse(raw);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => {
      const where = issue.path.join('.') || '(root)';
      const section = String(issue.path[0]);
      const message =
        issue.code === 'invalid_key' ? `not a coordinate; ${section} are keyed ${KEY_FORMS[section] ?? 'by name'}` : issue.message;
      return `  ${where}: ${message}`;
    });
    throw new CostOverridesError(`invalid cost overrides in ${path}:\n${lines.join('\n')}`);
  }
  return result.data;
}

/**
 * A new model: the directives' model with the overrides on top. Every coordinate must exist in
 * the schema (a typo would otherwise silently change nothing).
 */
export function applyCostOverrides(model: CostModel, overrides: CostOverrides, schema: GraphQLSchema): CostModel {
  const merged: CostModel = {
    weights: new Map(model.weights),
    listSizes: new Map(model.listSizes),
    argumentLimits: new Map(model.argumentLimits),
  };
  const unknown: string[] = [];
  for (const [type, { weight }] of Object.entries(overrides.types)) {
    if (!schema.getType(type)) unknown.push(type);
    merged.weights.set(type, weight);
  }
  for (const [coordinate, { weight, listSize }] of Object.entries(overrides.fields)) {
    if (!fieldExists(schema, coordinate)) unknown.push(coordinate);
    if (weight !== undefined) merged.weights.set(coordinate, weight);
    if (listSize) {
      const base: ListSize = merged.listSizes.get(coordinate) ?? { requireOneSlicingArgument: true };
      merged.listSizes.set(coordinate, { ...base, ...definedOnly(listSize) });
    }
  }
  for (const [coordinate, { weight, max }] of Object.entries(overrides.arguments)) {
    if (!argumentExists(schema, coordinate)) unknown.push(coordinate);
    if (weight !== undefined) merged.weights.set(coordinate, weight);
    if (max !== undefined) merged.argumentLimits.set(coordinate, { max });
  }
  if (unknown.length) throw new CostOverridesError(`cost overrides name coordinates the schema does not have: ${unknown.join(', ')}`);
  return merged;
}

function fieldExists(schema: GraphQLSchema, coordinate: string): boolean {
  const [typeName, fieldName] = coordinate.split('.') as [string, string];
  const type = schema.getType(typeName);
  if (!type || !(isObjectType(type) || isInterfaceType(type) || isInputObjectType(type))) return false;
  return fieldName in type.getFields();
}

function argumentExists(schema: GraphQLSchema, coordinate: string): boolean {
  const match = /^(\w+)\.(\w+)\((\w+):\)$/.exec(coordinate);
  if (!match) return false;
  const type = schema.getType(match[1] as string);
  if (!type || !(isObjectType(type) || isInterfaceType(type))) return false;
  const field = type.getFields()[match[2] as string];
  return Boolean(field?.args.some((a) => a.name === match[3]) && getNamedType(field.type));
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
