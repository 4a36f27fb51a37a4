import '../gateway/src/hot-reexports.js';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { HOT_PACKAGES, originalExports } from '../gateway/src/hot-reexports.js';
import { devBearer } from './helpers/auth.js';
import { postGraphql } from './helpers/gateway.js';
import { useDemoStack } from './helpers/subgraphs.js';

const require = createRequire(import.meta.url);
const SRC = fileURLToPath(new URL('../gateway/src/', import.meta.url));
const stack = useDemoStack();

describe('hot re-exports read as plain properties', () => {
  it('is the first import of both entry points (main and the gateway factory), before anything loads Apollo', () => {
    for (const entry of ['main.ts', 'server.ts']) {
      const source = readFileSync(join(SRC, entry), 'utf8');
      const firstImport = source.split('\n').find((line) => line.startsWith('import '));
      expect(firstImport, entry).toBe("import './hot-reexports.js';");
    }
  });

  it('every module gets a plain object with the same values as the getters, before and after the gateway served requests', async () => {
    for (const specifier of HOT_PACKAGES) {
      const loaded = require(specifier) as Record<string, unknown>;
      const original = originalExports.get(specifier) as Record<string, unknown>;
      expect(original).toBeDefined();
      const keys = Object.keys(original);
      expect(keys.length).toBeGreaterThan(100);
      // Plain data properties, not the package's getters.
      expect(Object.getOwnPropertyDescriptor(original, 'assert')?.get).toBeTypeOf('function');
      expect(Object.getOwnPropertyDescriptor(loaded, 'assert')).toMatchObject({ value: original.assert, writable: true });
      expect(Object.keys(loaded).sort()).toEqual([...keys].sort());
    }

    const query = '{ user(id: "user-2") { id orders(first: 2) { edges { node { id items { product { upc name } } } } } } }';
    const result = await postGraphql(stack.gw.graphqlUrl, { query }, await devBearer('user-2'));
    expect(result.status).toBe(200);
    expect(result.body.errors).toBeUndefined();
    expect((result.body.data?.user as { id: string }).id).toBe('user-2');

    // Nothing the package assigns later (a getter would have followed it) differs from the copy.
    for (const specifier of HOT_PACKAGES) {
      const loaded = require(specifier) as Record<string, unknown>;
      const original = originalExports.get(specifier) as Record<string, unknown>;
      const moved = Object.keys(original).filter((key) => loaded[key] !== original[key]);
      expect(moved).toEqual([]);
    }
  });
});
