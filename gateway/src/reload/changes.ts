import { createHash } from 'node:crypto';

/**
 * What differs between two configs, as dot paths to the values that changed (`rest.routes.1.upstream`);
 * a list whose length changed is named as a whole (`rest.routes`). Values are compared, never shown:
 * a path is safe to log, a value may be a secret.
 */
export function changedKeys(before: unknown, after: unknown, path: string[] = []): string[] {
  if (sameLeaf(before, after)) return [];
  if (Array.isArray(before) && Array.isArray(after)) {
    if (before.length !== after.length) return [path.join('.')];
    return before.flatMap((item, index) => changedKeys(item, after[index], [...path, String(index)]));
  }
  // A section or entry that appears or goes: its keys, one by one (as if it had been empty).
  if (before === undefined && isPlainObject(after)) return changedKeys({}, after, path);
  if (isPlainObject(before) && after === undefined) return changedKeys(before, {}, path);
  if (isPlainObject(before) && isPlainObject(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    return keys.flatMap((key) => changedKeys(before[key], after[key], [...path, key]));
  }
  return [path.join('.')];
}

/** A stable SHA-256 of the resolved config (keys sorted, patterns as their source), so equal configs hash alike. */
export function configHash(config: unknown): string {
  return createHash('sha256').update(stableJson(config)).digest('hex');
}

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (isPlainObject(value)) {
    const entries = Object.keys(value)
      .sort()
      .filter((key) => value[key] !== undefined)
      .map((key) => `${JSON.stringify(key)}:${stableJson(value[key])}`);
    return `{${entries.join(',')}}`;
  }
  if (value instanceof RegExp) return JSON.stringify(`/${value.source}/${value.flags}`);
  return JSON.stringify(value ?? null);
}

function sameLeaf(before: unknown, after: unknown): boolean {
  if (Object.is(before, after)) return true;
  if (before instanceof RegExp && after instanceof RegExp) return before.source === after.source && before.flags === after.flags;
  return false;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}
