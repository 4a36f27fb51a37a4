import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { ConfigSchema } from '../gateway/src/config/index.js';
import { ERRORS } from '../gateway/src/errors.js';
import { configTable, errorTable, GENERATED_PAGES } from '../scripts/reference-tables.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
/** README.md and every page of docs/, by path from the repository root. */
const MANUAL = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .sort()
    .map((name) => `docs/${name}`),
];

describe('generated reference pages (docs/configuration.md, docs/errors.md)', () => {
  it('match the config schema and the error registry (run `npm run docs` to regenerate)', () => {
    for (const [path, page] of Object.entries(GENERATED_PAGES)) expect(read(path), path).toBe(page());
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

describe('docs/security.md protection table', () => {
  // The first table of the page: from its header row to the first line that is not a table row.
  const lines = read('docs/security.md').split('\n');
  const header = lines.findIndex((line) => line.startsWith('| Protection | Default | Config key |'));
  const after = lines.findIndex((line, i) => i > header && !line.startsWith('|'));
  const table = lines.slice(header + 2, after).map((line) =>
    line
      .split(/(?<!\\)\|/)
      .slice(1, -1)
      .map((cell) => cell.trim()),
  );

  it('has rows, each with a key of the config schema or none', () => {
    expect(table.length).toBeGreaterThanOrEqual(20);
    for (const [protection, , keyCell] of table) {
      if (keyCell === '—') continue;
      const key = /^`([^`]+)`$/.exec(keyCell ?? '')?.[1];
      expect(key, `${protection}: the key cell must be one backticked key or —`).toBeDefined();
      expect(() => schemaDefault(key as string), protection).not.toThrow();
    }
  });

  it("states each key's schema default", () => {
    for (const [protection, defaultCell, keyCell] of table) {
      if (keyCell === '—') continue;
      const key = (keyCell as string).slice(1, -1);
      expect(
        defaultCell?.startsWith(formatDefault(schemaDefault(key))),
        `${protection} (${key}): "${defaultCell}" should start with ${formatDefault(schemaDefault(key))}`,
      ).toBe(true);
    }
  });
});

/** The lines of a markdown file, with fenced code blocks and inline code spans blanked out (so line numbers stay true). */
function proseLines(markdown: string): string[] {
  let fenced = false;
  return markdown.split('\n').map((line) => {
    if (/^\s*```/.test(line)) {
      fenced = !fenced;
      return '';
    }
    return fenced ? '' : line.replace(/`[^`]*`/g, '``');
  });
}

/** The anchors GitHub gives a file's headings: lowercase, punctuation but '-' and '_' dropped, spaces to '-', repeats numbered. */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*```/.test(line)) fenced = !fenced;
    const heading = fenced ? null : /^#{1,6}\s+(.+?)\s*#*\s*$/.exec(line);
    if (!heading) continue;
    const text = (heading[1] as string).replace(/\[([^\]]*)\]\([^)]*\)/g, '$1');
    const slug = text
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
      .replace(/ /g, '-');
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return anchors;
}

describe('the manual (README.md and docs/)', () => {
  it('has a page per capability and the two generated pages', () => {
    for (const page of [
      'getting-started',
      'graphql-over-http',
      'security',
      'cost-and-rate-limits',
      'resilience',
      'observability',
      'configuration',
      'errors',
    ]) {
      expect(MANUAL).toContain(`docs/${page}.md`);
    }
  });

  it('starts every page with its title and a one-line summary, and links it back to the README', () => {
    for (const path of MANUAL.filter((file) => file.startsWith('docs/'))) {
      const [title, blank, summary] = read(path).split('\n');
      expect(title, path).toMatch(/^# \S/);
      expect(blank, path).toBe('');
      expect(summary, path).toMatch(/^[^#\s|<].*\.$/);
      expect(read(path), path).toContain('](../README.md)');
    }
  });

  it('resolves every relative link to an existing file and, with an #anchor, to an existing heading', () => {
    const checked: string[] = [];
    const broken: string[] = [];
    for (const path of MANUAL) {
      for (const [n, line] of proseLines(read(path)).entries()) {
        for (const [, target] of line.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
          if (/^[a-z][a-z0-9+.-]*:/i.test(target as string)) continue; // https:, mailto:
          const [file, anchor] = (target as string).split('#') as [string, string | undefined];
          const linked = file === '' ? join(ROOT, path) : join(ROOT, dirname(path), decodeURIComponent(file));
          const where = `${path}:${n + 1}: ${target}`;
          checked.push(where);
          if (!existsSync(linked)) broken.push(`${where}: no file ${relative(ROOT, linked)}`);
          else if (anchor !== undefined && !anchorsOf(readFileSync(linked, 'utf8')).has(anchor))
            broken.push(`${where}: no heading #${anchor}`);
        }
      }
    }
    expect(checked.length).toBeGreaterThan(30);
    expect(broken).toEqual([]);
  });

  it('speaks of the product, never of issue numbers', () => {
    for (const path of MANUAL) {
      const text = read(path);
      expect(text, path).not.toMatch(/\bissues?\b/i);
      expect(text, path).not.toMatch(/(?<![\w&])#\d/);
    }
  });
});
