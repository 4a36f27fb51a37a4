import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { buildSchema, parse, type FieldDefinitionNode, type ObjectTypeDefinitionNode } from 'graphql';
import { afterAll, describe, expect, it } from 'vitest';
import { composeDemoSupergraph, DEFAULT_SUPERGRAPH_PATH, SupergraphCompositionError } from '../schema/compose.js';
import { DEFAULT_SUBGRAPHS_DIR } from '../subgraphs/shared/paths.js';
import type { SubgraphName } from '../subgraphs/shared/subgraph-names.js';

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL('../', import.meta.url));
const tempDirs: string[] = [];

afterAll(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

/** A temp copy of the demo subgraphs' SDL, optionally edited per subgraph. */
function copySubgraphs(edit: Partial<Record<SubgraphName, (sdl: string) => string>> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'compose-test-'));
  tempDirs.push(dir);
  cpSync(DEFAULT_SUBGRAPHS_DIR, dir, { recursive: true, filter: (path) => !path.endsWith('.ts') });
  for (const [name, change] of Object.entries(edit)) {
    const path = join(dir, name, 'schema.graphql');
    writeFileSync(path, change(readFileSync(path, 'utf8')));
  }
  return dir;
}

async function runComposeScript(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'schema/compose.ts', ...args], { cwd: repoRoot });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failure = error as { code: number; stdout: string; stderr: string };
    return { code: failure.code, stdout: failure.stdout, stderr: failure.stderr };
  }
}

function field(sdl: string, typeName: string, fieldName: string): FieldDefinitionNode | undefined {
  const type = parse(sdl).definitions.find(
    (definition): definition is ObjectTypeDefinitionNode =>
      definition.kind === 'ObjectTypeDefinition' && definition.name.value === typeName,
  );
  return type?.fields?.find((candidate) => candidate.name.value === fieldName);
}

function directiveNames(node: FieldDefinitionNode | undefined): string[] {
  return node?.directives?.map((directive) => directive.name.value) ?? [];
}

describe('supergraph composition', () => {
  it('the committed schema/supergraph.graphql matches the subgraph schemas', () => {
    const committed = readFileSync(DEFAULT_SUPERGRAPH_PATH, 'utf8');
    expect(committed, 'schema/supergraph.graphql is out of date: run `npm run compose` and commit it').toBe(composeDemoSupergraph());
  });

  it('keeps @cost and @listSize in the supergraph', () => {
    const supergraph = composeDemoSupergraph();
    expect(supergraph).toContain('@link(url: "https://specs.apollo.dev/cost/v0.1"');
    expect(directiveNames(field(supergraph, 'Product', 'inStock'))).toContain('cost');
    expect(directiveNames(field(supergraph, 'Query', 'users'))).toContain('listSize');
    expect(directiveNames(field(supergraph, 'User', 'orders'))).toContain('listSize');
    expect(directiveNames(field(supergraph, 'Query', 'topProducts'))).toContain('listSize');
    expect(directiveNames(field(supergraph, 'Order', 'items'))).toContain('listSize');
  });

  it('keeps fields resolved by another subgraph nullable', () => {
    const supergraph = composeDemoSupergraph();
    expect(field(supergraph, 'Order', 'user')?.type.kind).toBe('NamedType');
    expect(field(supergraph, 'LineItem', 'product')?.type.kind).toBe('NamedType');
    expect(field(supergraph, 'User', 'orders')?.type.kind).toBe('NamedType');
  });

  it('produces a valid GraphQL schema', () => {
    expect(() => buildSchema(composeDemoSupergraph())).not.toThrow();
  });

  it('lists every composition error for a conflicting set of subgraphs', () => {
    const dir = copySubgraphs({
      products: (sdl) => sdl.replace(/^ {2}upc: String!$/m, '  upc: Int!'),
      orders: (sdl) => sdl.replace('type PageInfo @shareable', 'type PageInfo'),
    });
    let thrown: unknown;
    try {
      composeDemoSupergraph(dir);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(SupergraphCompositionError);
    const codes = (thrown as SupergraphCompositionError).errors.map((error) => error.code);
    expect(codes).toContain('FIELD_TYPE_MISMATCH');
    expect(codes).toContain('INVALID_FIELD_SHARING');
  });

  it('npm run compose writes the supergraph to --out', async () => {
    const out = join(copySubgraphs(), 'supergraph.graphql');
    const result = await runComposeScript('--out', out);
    expect(result.code).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe(readFileSync(DEFAULT_SUPERGRAPH_PATH, 'utf8'));
  });

  it('npm run compose exits non-zero and prints each error for conflicting subgraphs', async () => {
    const dir = copySubgraphs({ products: (sdl) => sdl.replace(/^ {2}upc: String!$/m, '  upc: Int!') });
    const out = join(dir, 'supergraph.graphql');
    const result = await runComposeScript('--subgraphs-dir', dir, '--out', out);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('Composition failed with 1 error(s):');
    expect(result.stderr).toMatch(/^ {2}\[FIELD_TYPE_MISMATCH\] Type of field "Product\.upc" is incompatible across subgraphs/m);
    expect(() => readFileSync(out)).toThrow();
  });

  it('npm run compose -- --check fails when the output file is out of date', async () => {
    const out = join(copySubgraphs(), 'stale.graphql');
    writeFileSync(out, 'type Query { stale: String }\n');
    const result = await runComposeScript('--check', '--out', out);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('run `npm run compose`');
  });
});
