import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError } from '../config-kit.js';

/** One trusted document of a manifest. */
export interface TrustedDocument {
  /** SHA-256 of `body`, lower-case hex. */
  id: string;
  name: string;
  type: 'query' | 'mutation' | 'subscription';
  body: string;
}

/** The trusted documents of a manifest file, by id. */
export interface TrustedManifest {
  path: string;
  documents: ReadonlyMap<string, TrustedDocument>;
}

export const MANIFEST_FORMAT = 'apollo-persisted-query-manifest';

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * Reads a persisted-query manifest in Apollo's format
 * (`{"format": "apollo-persisted-query-manifest", "version": 1, "operations": [{id, name, type, body}]}`,
 * what `@apollo/generate-persisted-query-manifest` and `npm run manifest` write).
 *
 * Throws a `ConfigError` listing every problem (unreadable file, bad JSON, wrong format or version,
 * a missing field, an `id` that is not the SHA-256 of its `body`, a repeated id): a manifest that
 * is wrong as a file is a deployment error, and the gateway refuses to start on it rather than
 * serve a partial allow-list. Whether each body is valid against the schema is checked later, on
 * every supergraph load (see `useTrustedDocuments`), and only warned about.
 */
export function readManifest(path: string): TrustedManifest {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read trusted documents manifest ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`trusted documents manifest ${path} is not valid JSON: ${(error as Error).message}`);
  }
  return { path, documents: checkManifest(parsed, path) };
}

/** The documents of a parsed manifest; throws a `ConfigError` naming every bad entry. */
export function checkManifest(parsed: unknown, path: string): Map<string, TrustedDocument> {
  const problems: string[] = [];
  const documents = new Map<string, TrustedDocument>();
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(`trusted documents manifest ${path} must be a JSON object`);
  }
  const manifest = parsed as Record<string, unknown>;
  if (manifest.format !== MANIFEST_FORMAT) problems.push(`format must be "${MANIFEST_FORMAT}"`);
  if (manifest.version !== 1) problems.push('version must be 1');
  if (!Array.isArray(manifest.operations)) problems.push('operations must be an array');
  const operations: unknown[] = Array.isArray(manifest.operations) ? manifest.operations : [];
  operations.forEach((entry, index) => {
    const where = `operations[${index}]`;
    if (typeof entry !== 'object' || entry === null) {
      problems.push(`${where} must be an object`);
      return;
    }
    const { id, name, type, body } = entry as Record<string, unknown>;
    if (typeof body !== 'string' || body.trim() === '') {
      problems.push(`${where}.body must be a non-empty string`);
      return;
    }
    if (typeof id !== 'string') {
      problems.push(`${where}.id must be a string`);
      return;
    }
    const expected = sha256Hex(body);
    if (id.toLowerCase() !== expected) {
      problems.push(
        `${where} (${typeof name === 'string' ? name : 'unnamed'}): id ${id.slice(0, 80)} is not the SHA-256 of its body (${expected})`,
      );
      return;
    }
    if (type !== 'query' && type !== 'mutation' && type !== 'subscription') {
      problems.push(`${where}.type must be query, mutation or subscription`);
      return;
    }
    if (documents.has(expected)) {
      problems.push(`${where}: id ${expected} is listed twice`);
      return;
    }
    documents.set(expected, { id: expected, name: typeof name === 'string' ? name : '', type, body });
  });
  if (problems.length > 0) {
    throw new ConfigError(`trusted documents manifest ${path} is invalid:\n${problems.map((problem) => `  ${problem}`).join('\n')}`);
  }
  return documents;
}
