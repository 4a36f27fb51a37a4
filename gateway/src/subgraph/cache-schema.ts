import { Kind, parse, type ConstDirectiveNode, type TypeNode } from 'graphql';
import type { CacheHint } from './response-cache-config.js';

/** What the response cache reads from the supergraph: entity keys, root fields' types and `@cacheControl` hints. */
export interface CacheSchema {
  /** Key field sets of each entity type (only keys made of plain fields, e.g. `upc` or `id sku`). */
  keys: ReadonlyMap<string, readonly (readonly string[])[]>;
  /** `Query.topProducts` → `Product`: the named type each root field returns. */
  rootFieldTypes: ReadonlyMap<string, string>;
  /** `@cacheControl` hints by type (`Product`) and field (`Query.topProducts`). */
  hints: ReadonlyMap<string, CacheHint>;
}

const EMPTY: CacheSchema = { keys: new Map(), rootFieldTypes: new Map(), hints: new Map() };
let remembered: { sdl: string; schema: CacheSchema } | undefined;

/** The {@link CacheSchema} of a supergraph SDL (the last one is remembered: it changes only on reload). */
export function cacheSchemaOf(sdl: string | undefined): CacheSchema {
  if (!sdl) return EMPTY;
  if (remembered?.sdl === sdl) return remembered.schema;
  const schema = read(sdl);
  remembered = { sdl, schema };
  return schema;
}

function read(sdl: string): CacheSchema {
  const keys = new Map<string, string[][]>();
  const rootFieldTypes = new Map<string, string>();
  const hints = new Map<string, CacheHint>();
  for (const definition of parse(sdl).definitions) {
    if (definition.kind !== Kind.OBJECT_TYPE_DEFINITION && definition.kind !== Kind.OBJECT_TYPE_EXTENSION) continue;
    const type = definition.name.value;
    for (const directive of definition.directives ?? []) {
      if (directive.name.value === 'join__type') {
        const fields = stringArgument(directive, 'key')?.trim().split(/\s+/);
        const known = keys.get(type) ?? [];
        // Each subgraph declares its keys: the same set once.
        if (fields?.length && fields.every((f) => /^[_A-Za-z]\w*$/.test(f)) && !known.some((k) => k.join(' ') === fields.join(' '))) {
          keys.set(type, [...known, fields]);
        }
      }
    }
    const typeHint = hintOf(definition.directives);
    if (typeHint) hints.set(type, typeHint);
    for (const field of definition.fields ?? []) {
      const fieldHint = hintOf(field.directives);
      if (fieldHint) hints.set(`${type}.${field.name.value}`, fieldHint);
      if (type === 'Query' || type === 'Mutation') rootFieldTypes.set(`${type}.${field.name.value}`, namedType(field.type));
    }
  }
  return { keys, rootFieldTypes, hints };
}

function hintOf(directives: readonly ConstDirectiveNode[] | undefined): CacheHint | undefined {
  const directive = directives?.find((d) => d.name.value === 'cacheControl');
  if (!directive) return undefined;
  const hint: CacheHint = {};
  for (const argument of directive.arguments ?? []) {
    if (argument.name.value === 'maxAge' && argument.value.kind === Kind.INT) hint.maxAge = Number(argument.value.value);
    if (argument.name.value === 'scope' && argument.value.kind === Kind.ENUM) {
      hint.scope = argument.value.value === 'PRIVATE' ? 'PRIVATE' : 'PUBLIC';
    }
  }
  return hint;
}

function stringArgument(directive: ConstDirectiveNode, name: string): string | undefined {
  const value = directive.arguments?.find((a) => a.name.value === name)?.value;
  return value?.kind === Kind.STRING ? value.value : undefined;
}

function namedType(type: TypeNode): string {
  return type.kind === Kind.NAMED_TYPE ? type.name.value : namedType(type.type);
}
