import { assert } from '@apollo/federation-internals';
import type { QueryPlanSelectionNode, ResponsePath } from '@apollo/query-planner';
import { Kind, type GraphQLSchema } from 'graphql';
import { dataRewrites, type Cursor, type Dict } from './apollo-executor-parts.js';
import { ResponseObject } from './response-object.js';
import { isRecord } from '../records.js';

/**
 * The data work of query plan execution, as `@apollo/gateway` 2.14 does it, with less garbage:
 * finding a Flatten node's entities, building their representations, merging subgraph answers in.
 */

const hasOwn = Object.prototype.hasOwnProperty;

/** A representation of `source` by the fetch's `requires` selections; null when a field is missing. */
export function executeSelectionSet(
  schema: GraphQLSchema,
  source: Dict | null,
  selections: readonly QueryPlanSelectionNode[],
): Dict | null {
  if (source === null) return null;
  let result = new ResponseObject();
  let empty = true;
  for (const selection of selections) {
    if (selection.kind === Kind.FIELD) {
      const responseName = selection.alias ? selection.alias : selection.name;
      const below = selection.selections;
      const value = source[responseName];
      if (!hasOwn.call(source, responseName) || typeof value === 'undefined') return null;
      if (Array.isArray(value)) {
        result[responseName] = below ? value.map((item: Dict | null) => executeSelectionSet(schema, item, below)) : value.slice();
      } else if (below) {
        result[responseName] = executeSelectionSet(schema, value as Dict | null, below);
      } else {
        result[responseName] = value;
      }
      empty = false;
    } else {
      if (!selection.typeCondition || !source) continue;
      if (!dataRewrites.isObjectOfType(schema, source, selection.typeCondition)) continue;
      const fragment = executeSelectionSet(schema, source, selection.selections);
      // Merging into an empty object copies the fragment's fields: the fragment's object is that copy.
      if (empty && fragment) {
        result = fragment;
        empty = !hasOwnKeys(fragment);
      } else {
        deepMerge(result, fragment);
        if (fragment && hasOwnKeys(fragment)) empty = false;
      }
    }
  }
  return result;
}

/**
 * Apollo's `deepMerge` (utilities/deepMerge.ts), each value read once. Its keys are walked with
 * `for…in` and an own-property check, the same keys in the same order as `Object.keys`, without
 * the array `Object.keys` makes for every object merged.
 */
export function deepMerge(target: Dict, source: Dict | null | undefined): Dict {
  if (source === undefined || source === null) return target;
  for (const key in source) {
    if (!hasOwn.call(source, key)) continue;
    const value = source[key];
    if (value === undefined) continue;
    // A key that names something inherited (`constructor` on a parsed object) becomes the object's own.
    if (!hasOwn.call(target, key) && key in target) {
      Object.defineProperty(target, key, { configurable: true, enumerable: true, value: undefined, writable: true });
    }
    const existing = target[key];
    if (existing && isRecord(value)) {
      deepMerge(existing as Dict, value);
    } else if (Array.isArray(value) && Array.isArray(existing) && value.length === existing.length) {
      for (let i = 0; i < value.length; i++) {
        const into = existing[i] as unknown;
        const from = value[i] as unknown;
        if (isRecord(into) && isRecord(from)) deepMerge(into, from);
        else existing[i] = from;
      }
    } else {
      target[key] = value;
    }
  }
  return target;
}

/** Whether `object` has an own enumerable key (`Object.keys(object).length > 0`, without the array). */
function hasOwnKeys(object: Dict): boolean {
  for (const key in object) if (hasOwn.call(object, key)) return true;
  return false;
}

export function moveIntoCursor(cursor: Cursor, pathInCursor: ResponsePath): Cursor | undefined {
  const data = flattenResultsAtPath(cursor.data, pathInCursor);
  return data ? { path: cursor.path.concat(pathInCursor), data, fullResult: cursor.fullResult } : undefined;
}

/**
 * What is at `path` below `value`, each list (`@`) flattened one level, as Apollo's
 * `flattenResultsAtPath` (which made a rest array per step and a `flatMap` array per list): the
 * entities are collected into one array.
 */
function flattenResultsAtPath(value: unknown, path: ResponsePath): unknown {
  let index = 0;
  while (index < path.length && value !== undefined && value !== null && path[index] !== '@') value = field(value, path[index++]);
  if (index === path.length || value === undefined || value === null) return value;
  const flattened: unknown[] = [];
  flattenInto(value, path, index, flattened);
  return flattened;
}

/** Adds to `into` what is below the list `value` at `path[index]` (an `@`), as `flatMap` would. */
function flattenInto(value: unknown, path: ResponsePath, index: number, into: unknown[]): void {
  if (!Array.isArray(value)) throw new TypeError('value.flatMap is not a function');
  for (const element of value as unknown[]) {
    let found = element;
    let at = index + 1;
    while (at < path.length && found !== undefined && found !== null && path[at] !== '@') found = field(found, path[at++]);
    if (at < path.length && found !== undefined && found !== null) flattenInto(found, path, at, into);
    else if (Array.isArray(found)) for (const item of found as unknown[]) into.push(item);
    else into.push(found);
  }
}

function field(value: unknown, current: string | number | undefined): unknown {
  assert(typeof current === 'string', () => `Unexpected ${typeof current} found in path`);
  assert(!Array.isArray(value), () => `Unexpected array in result for path element ${current}`);
  return hasOwn.call(value, current) ? (value as Dict)[current] : undefined;
}
