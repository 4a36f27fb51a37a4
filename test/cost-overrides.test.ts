import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { estimateCost } from '../gateway/src/cost/estimate.js';
import { costModelFromSdl } from '../gateway/src/cost/model.js';
import { apiSchemaFromSupergraph } from '../gateway/src/supergraph/api-schema.js';
import { CostOverridesError, applyCostOverrides, readCostOverrides } from '../gateway/src/cost/overrides.js';
import { REPO_ROOT } from './helpers/process.js';

const supergraphSdl = readFileSync(join(REPO_ROOT, 'schema/supergraph.graphql'), 'utf8');
const schema = apiSchemaFromSupergraph(supergraphSdl);
const directives = costModelFromSdl(parse(supergraphSdl));

function yamlFile(content: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'gw-costs-')), 'costs.yaml');
  writeFileSync(path, content);
  return path;
}

const cost = (query: string, model = directives) => estimateCost(schema, model, parse(query), { defaultListSize: 10 });

describe('schema/costs.yaml overrides', () => {
  it('override weights, list sizes and argument limits without touching the subgraphs', () => {
    const overrides = readCostOverrides(
      yamlFile(`
types:
  Product: { weight: 4 }
fields:
  Product.inStock: { weight: 9 }
  Order.items: { listSize: { assumedSize: 2 } }
arguments:
  "Query.topProducts(first:)": { max: 20, weight: 1 }
`),
    );
    const model = applyCostOverrides(directives, overrides, schema);
    // Before: 5 × (Product 1 + inStock 2) = 15. After: 5 × (4 + 9) + argument weight 1 = 66.
    expect(cost('{ topProducts(first: 5) { inStock } }').cost).toBe(15);
    expect(cost('{ topProducts(first: 5) { inStock } }', model).cost).toBe(66);
    // Order.items kept its other @listSize settings and took assumedSize 2 (was 5): 1 + 2 × 1 = 3.
    expect(cost('{ order(id: "order-1") { items { quantity } } }', model).cost).toBe(3);
    expect(cost('{ topProducts(first: 21) { upc } }', model).violations).toEqual([
      { code: 'LIST_SIZE_TOO_LARGE', path: 'topProducts', argument: 'first', value: 21, max: 20 },
    ]);
  });

  it('rejects coordinates the schema does not have, naming them', () => {
    const overrides = readCostOverrides(
      yamlFile('fields:\n  Product.inStok: { weight: 2 }\narguments:\n  "Query.users(frist:)": { max: 5 }\n'),
    );
    expect(() => applyCostOverrides(directives, overrides, schema)).toThrow(CostOverridesError);
    expect(() => applyCostOverrides(directives, overrides, schema)).toThrow(/Product\.inStok, Query\.users\(frist:\)/);
  });

  it('rejects malformed files, naming the bad key', () => {
    expect(() => readCostOverrides(yamlFile('fields:\n  Product.inStock: { wieght: 2 }\n'))).toThrow(
      /fields\.Product\.inStock: Unrecognized key/,
    );
    expect(() => readCostOverrides(yamlFile('arguments:\n  Query.users.first: { max: 5 }\n'))).toThrow(
      /arguments\.Query\.users\.first: not a coordinate; arguments are keyed Type\.field\(argument:\)/,
    );
    expect(() => readCostOverrides(yamlFile('types:\n  Product: { weight: -1 }\n'))).toThrow(/types\.Product\.weight/);
  });

  it('the committed schema/costs.yaml is valid against the demo supergraph and caps first at 100', () => {
    const model = applyCostOverrides(directives, readCostOverrides(join(REPO_ROOT, 'schema/costs.yaml')), schema);
    expect(cost('{ users(first: 101) { totalCount } }', model).violations[0]).toMatchObject({ code: 'LIST_SIZE_TOO_LARGE', max: 100 });
    expect(cost('{ users(first: 100) { totalCount } }', model).violations).toEqual([]);
  });
});

describe('npm run cost (explain)', () => {
  const run = (args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', 'scripts/cost.ts', ...args], { cwd: REPO_ROOT, encoding: 'utf8' });

  it('prints the estimate field by field', () => {
    const query = join(mkdtempSync(join(tmpdir(), 'gw-cost-cli-')), 'q.graphql');
    writeFileSync(query, 'query Top($n: Int) { topProducts(first: $n) { name inStock } }');
    const result = run([query, '--variables', '{"n": 4}']);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^topProducts\s+Query\.topProducts\s+4\s+1\s+0\s+2\s+12$/m);
    expect(result.stdout).toMatch(/^topProducts\.inStock\s+Product\.inStock\s+1\s+2\s+0\s+0\s+2$/m);
    expect(result.stdout).toContain('estimated cost: 12');
  });

  it('exits 1 on a limit violation or an invalid operation', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-cost-cli-'));
    writeFileSync(join(dir, 'big.graphql'), '{ users(first: 500) { totalCount } }');
    writeFileSync(join(dir, 'bad.graphql'), '{ users { nope } }');
    const big = run([join(dir, 'big.graphql')]);
    expect(big.status).toBe(1);
    expect(big.stdout).toContain('"code":"LIST_SIZE_TOO_LARGE"');
    const bad = run([join(dir, 'bad.graphql')]);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('Cannot query field "nope"');
  });
});
