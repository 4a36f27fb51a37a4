import { renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postGraphql, startTestGateway, type TestGateway } from './helpers/gateway.js';
import { TINY_SDL_V2, composeTiny, startTinySubgraph, writeTinySupergraph, type TinySubgraph } from './helpers/tiny-subgraph.js';

/** The tiny subgraph with cost directives, as a team would add them in a new release. */
const COSTED_SDL = TINY_SDL_V2.replace('import: ["@key"]', 'import: ["@key", "@cost", "@listSize"]')
  .replace('warehouses: [Warehouse!]!', 'warehouses: [Warehouse!]! @listSize(assumedSize: 2)')
  .replace('capacity: Int!', 'capacity: Int! @cost(weight: 5)');

let subgraph: TinySubgraph;
let gw: TestGateway;
let supergraphPath: string;

beforeAll(async () => {
  subgraph = await startTinySubgraph();
  supergraphPath = writeTinySupergraph(subgraph.url, TINY_SDL_V2);
  gw = await startTestGateway({
    supergraph: { path: supergraphPath, watch: true, pollIntervalMs: 50 },
    cost: { overridesPath: join(dirname(supergraphPath), 'no-costs.yaml') },
  });
});

afterAll(async () => {
  await gw?.close();
  await subgraph?.close();
});

const explain = async () => {
  const result = await postGraphql(gw.graphqlUrl, { query: '{ warehouses { code capacity } }' }, { 'x-cost-explain': '1' });
  return (result.body.extensions as { cost: { requestedQueryCost: number } }).cost.requestedQueryCost;
};

describe('cost model on a supergraph hot reload', () => {
  it('costs by the directives of the reloaded supergraph', async () => {
    expect(COSTED_SDL).toContain('@cost(weight: 5)');
    expect(await explain()).toBe(10); // no directives: 10 warehouses (default list size) × 1
    const temp = join(dirname(supergraphPath), '.next');
    writeFileSync(temp, composeTiny(subgraph.url, COSTED_SDL));
    renameSync(temp, supergraphPath);
    let cost = await explain();
    for (let i = 0; i < 100 && cost === 10; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      cost = await explain();
    }
    expect(cost).toBe(12); // 2 warehouses (assumedSize) × (1 + 5 for capacity)
  });
});
