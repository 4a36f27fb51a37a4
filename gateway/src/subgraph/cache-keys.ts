import { createHash } from 'node:crypto';

/**
 * The response cache's keys, in the shared store (whose own namespace and Redis `keyPrefix` come
 * first). Header values and key values are hashed, never stored as keys. Every key of one entity,
 * and its tag, share the `{Type:hash}` hash tag: one Redis Cluster slot per entity.
 *
 * - `rc:q:<subgraph>:<hash>`: a whole query answer (root fields); hash of scope identity and body
 * - `rc:e:{<Type>:<id hash>}:<subgraph>:<hash>`: one entity of an `_entities` fetch; hash of scope identity and selection (with the forwarded headers)
 * - tag `rc:t:{<Type>:<id hash>}`: every entry holding that entity
 * - tag `rc:t:<Type>`: query answers holding entities of that type whose keys were not selected
 */
export function hashOf(...parts: string[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part).update('\0');
  return hash.digest('base64url').slice(0, 32);
}

export const queryKey = (subgraph: string, scope: string, body: string) => `rc:q:${subgraph}:${hashOf(scope, body)}`;

export const entityKey = (type: string, id: string, subgraph: string, scope: string, selection: string) =>
  `rc:e:{${type}:${hashOf(id)}}:${subgraph}:${hashOf(scope, selection)}`;

export const entityTag = (type: string, id: string) => `rc:t:{${type}:${hashOf(id)}}`;

export const typeTag = (type: string) => `rc:t:${type}`;

/**
 * An entity's id: its key fields as `name=value`, sorted by name, joined by `,` (e.g. `upc=upc-0001`),
 * from a representation (every field but `__typename`) or from an answer (the key fields only).
 * Undefined when a value is not a string, number or boolean.
 */
export function entityId(fields: Record<string, unknown>, only?: readonly string[]): string | undefined {
  const names = (only ?? Object.keys(fields).filter((name) => name !== '__typename')).slice().sort();
  if (names.length === 0) return undefined;
  const parts: string[] = [];
  for (const name of names) {
    const value = fields[name];
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') return undefined;
    parts.push(`${name}=${String(value)}`);
  }
  return parts.join(',');
}
