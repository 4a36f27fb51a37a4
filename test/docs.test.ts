import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { ConfigSchema } from '../gateway/src/config/index.js';
import { ERRORS } from '../gateway/src/errors.js';
import { configTable, errorTable, withGeneratedTables } from '../scripts/reference-tables.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

describe('README reference tables', () => {
  it('match the config schema and the error registry (run `npm run docs` to regenerate)', () => {
    expect(withGeneratedTables(readme)).toBe(readme);
  });

  it('list every config key and every error code', () => {
    const table = configTable();
    for (const section of Object.keys(ConfigSchema.shape)) expect(table).toContain(`\`${section}.`);
    expect(table).toContain('`server.port` | port | `4000` | `PORT`');
    expect(table).toContain('`subgraphs.<name>.url` | URL | (unset) | `SUBGRAPH_<NAME>_URL`');
    const errors = errorTable();
    for (const code of Object.keys(ERRORS)) expect(errors).toContain(`| \`${code}\` |`);
  });
});

interface SchemaNode {
  properties?: Record<string, SchemaNode>;
  additionalProperties?: SchemaNode | boolean;
  default?: unknown;
}

/** The schema default of a dotted key, walking into a record's default value (`rateLimit.tiers.anonymous.maxDepth`); throws if the key does not exist. */
function schemaDefault(key: string): unknown {
  let node: SchemaNode | undefined = z.toJSONSchema(ConfigSchema, { io: 'input', unrepresentable: 'any' }) as SchemaNode;
  let value: unknown;
  let inValue = false;
  for (const segment of key.split('.')) {
    if (inValue) {
      if (typeof value !== 'object' || value === null || !(segment in value)) throw new Error(`${key}: no ${segment} in the default`);
      value = (value as Record<string, unknown>)[segment];
    } else if (node?.properties?.[segment]) {
      node = node.properties[segment];
    } else if (node && typeof node.default === 'object' && node.default !== null && segment in node.default) {
      inValue = true;
      value = (node.default as Record<string, unknown>)[segment];
    } else {
      throw new Error(`${key} is not a key of the config schema`);
    }
  }
  return inValue ? value : node?.default;
}

/** A default as the Security table writes it: `value`, `a`, `b` for a list, (none) for an empty one, (unset) for none. */
function formatDefault(value: unknown): string {
  if (value === undefined) return '`(unset)`';
  if (Array.isArray(value)) return value.length === 0 ? '`(none)`' : value.map((v) => `\`${String(v)}\``).join(', ');
  return `\`${String(value)}\``;
}

describe('README Security table', () => {
  // The first table of the section: from its header row to the first line that is not a table row.
  const lines = readme.slice(readme.indexOf('## Security')).split('\n');
  const header = lines.findIndex((line) => line.startsWith('| Protection | Default | Config key |'));
  const after = lines.findIndex((line, i) => i > header && !line.startsWith('|'));
  const table = lines
    .slice(header + 2, after)
    .map((line) => line.split(/(?<!\\)\|/).slice(1, -1).map((cell) => cell.trim()));

  it('has rows, each with a key of the config schema or none', () => {
    expect(table.length).toBeGreaterThanOrEqual(20);
    for (const [protection, , keyCell] of table) {
      if (keyCell === '—') continue;
      const key = /^`([^`]+)`$/.exec(keyCell ?? '')?.[1];
      expect(key, `${protection}: the key cell must be one backticked key or —`).toBeDefined();
      expect(() => schemaDefault(key as string), protection).not.toThrow();
    }
  });

  it('states each key\'s schema default', () => {
    for (const [protection, defaultCell, keyCell] of table) {
      if (keyCell === '—') continue;
      const key = (keyCell as string).slice(1, -1);
      expect(defaultCell?.startsWith(formatDefault(schemaDefault(key))), `${protection} (${key}): "${defaultCell}" should start with ${formatDefault(schemaDefault(key))}`).toBe(true);
    }
  });
});
