import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parse, validate } from 'graphql';
import { estimateCost, type CostEstimate } from '../gateway/src/cost/estimate.js';
import { costModelFromSdl } from '../gateway/src/cost/model.js';
import { apiSchemaFromSupergraph } from '../gateway/src/supergraph/api-schema.js';
import { applyCostOverrides, readCostOverrides } from '../gateway/src/cost/overrides.js';

/**
 * `npm run cost -- query.graphql [--variables '{"n": 5}'] [--operation Name]
 *   [--supergraph schema/supergraph.graphql] [--costs schema/costs.yaml] [--default-list-size 10] [--json]`
 *
 * Prints the static cost of an operation field by field, as the gateway computes it before running
 * it (an explain). Exit code 1 when the operation is invalid or breaks a list-size limit.
 */
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    variables: { type: 'string', default: '{}' },
    operation: { type: 'string' },
    supergraph: { type: 'string', default: 'schema/supergraph.graphql' },
    costs: { type: 'string', default: 'schema/costs.yaml' },
    'default-list-size': { type: 'string', default: '10' },
    json: { type: 'boolean', default: false },
  },
});

function fail(message: string): never {
  process.stderr.write(`cost: ${message}\n`);
  process.exit(1);
}

const file = positionals[0];
if (!file) fail('usage: npm run cost -- query.graphql [--variables JSON] [--operation NAME]');
let variables: Record<string, unknown>;
try {
  variables = JSON.parse(values.variables) as Record<string, unknown>;
} catch {
  fail('--variables is not valid JSON');
}

const supergraphSdl = readFileSync(values.supergraph, 'utf8');
const schema = apiSchemaFromSupergraph(supergraphSdl);
let model = costModelFromSdl(parse(supergraphSdl));
if (existsSync(values.costs)) {
  try {
    model = applyCostOverrides(model, readCostOverrides(values.costs), schema);
  } catch (error) {
    fail((error as Error).message);
  }
}

let document;
try {
  document = parse(readFileSync(file, 'utf8'));
} catch (error) {
  fail(`${file}: ${(error as Error).message}`);
}
const errors = validate(schema, document);
if (errors.length) fail(`${file} is not valid against the schema:\n${errors.map((e) => `  ${e.message}`).join('\n')}`);

let estimate: CostEstimate;
try {
  estimate = estimateCost(schema, model, document, {
    operationName: values.operation,
    variables,
    defaultListSize: Number(values['default-list-size']),
  });
} catch (error) {
  fail((error as Error).message);
}

if (values.json) {
  process.stdout.write(`${JSON.stringify(estimate, null, 2)}\n`);
} else {
  const rows = estimate.fields.map((f) => [
    f.path,
    f.coordinate,
    String(f.count),
    String(f.weight),
    String(f.argumentsCost),
    String(f.childrenCost),
    String(f.total),
  ]);
  const header = ['path', 'coordinate', 'count', 'weight', 'args', 'children (each)', 'total'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i >= 2 ? c.padStart(widths[i] as number) : c.padEnd(widths[i] as number))).join('  ');
  process.stdout.write(`${line(header)}\n${line(widths.map((w) => '-'.repeat(w)))}\n${rows.map(line).join('\n')}\n\n`);
  process.stdout.write(
    `estimated cost: ${estimate.cost}   depth: ${estimate.depth}   aliases: ${estimate.aliases}   root fields: ${estimate.rootFields}\n`,
  );
  for (const violation of estimate.violations) process.stdout.write(`violation: ${JSON.stringify(violation)}\n`);
}
if (estimate.violations.length) process.exit(1);
