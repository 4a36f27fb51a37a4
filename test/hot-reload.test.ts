import { renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postGraphql, startTestGateway, type TestGateway } from './helpers/gateway.js';
import { TINY_SDL_V2, composeTiny, startTinySubgraph, writeTinySupergraph, type TinySubgraph } from './helpers/tiny-subgraph.js';

let subgraph: TinySubgraph;
let gw: TestGateway;
let supergraphPath: string;

const CAPACITY_QUERY = '{ warehouses { code capacity } }';

beforeAll(async () => {
  subgraph = await startTinySubgraph();
  supergraphPath = writeTinySupergraph(subgraph.url);
  // server.readinessDetail: /ready shows the supergraph id.
  gw = await startTestGateway({ supergraph: { path: supergraphPath, watch: true, pollIntervalMs: 50 }, server: { readinessDetail: true } });
});

afterAll(async () => {
  await gw?.close();
  await subgraph?.close();
});

/** Replaces the file the way deploy tools do: write a sibling, then rename over it. */
function replaceAtomically(content: string): void {
  const temp = join(dirname(supergraphPath), `.next-${process.hrtime.bigint()}`);
  writeFileSync(temp, content);
  renameSync(temp, supergraphPath);
}

async function eventually<T>(probe: () => Promise<T>, accept: (value: T) => boolean, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (accept(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function reloadCount(result: 'success' | 'failure'): Promise<number> {
  const metric = await gw.gateway.metrics.supergraphReloads.get();
  return metric.values.find((v) => v.labels.result === result)?.value ?? 0;
}

describe('supergraph hot reload', () => {
  it('exposes both reload counters at 0 before any reload, so an alert on increase() sees the first failure', async () => {
    const text = await (await fetch(`${gw.url}/metrics`)).text();
    expect(text).toContain('gateway_supergraph_reloads_total{result="failure"} 0');
    expect(text).toContain('gateway_supergraph_reloads_total{result="success"} 0');
  });

  it('serves a changed supergraph without a restart, and finishes a request that was in flight', async () => {
    const before = await postGraphql(gw.graphqlUrl, { query: CAPACITY_QUERY });
    expect(before.status).toBe(400);
    expect(before.body.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');

    const readyBefore = (await (await fetch(`${gw.url}/ready`)).json()) as { supergraph: { id: string } };

    // A slow request starts on the old supergraph and must complete across the swap.
    const inFlight = postGraphql(gw.graphqlUrl, { query: '{ slow(ms: 600) }' });
    await new Promise((resolve) => setTimeout(resolve, 100));
    replaceAtomically(composeTiny(subgraph.url, TINY_SDL_V2));

    const after = await eventually(
      () => postGraphql(gw.graphqlUrl, { query: CAPACITY_QUERY }),
      (r) => r.status === 200,
    );
    expect(after.body).toEqual({
      data: {
        warehouses: [
          { code: 'AMS', capacity: 1200 },
          { code: 'LIS', capacity: 800 },
        ],
      },
    });

    const slow = await inFlight;
    expect(slow.status).toBe(200);
    expect(slow.body).toEqual({ data: { slow: 'waited 600ms' } });

    const readyAfter = (await (await fetch(`${gw.url}/ready`)).json()) as { supergraph: { id: string } };
    expect(readyAfter.supergraph.id).not.toBe(readyBefore.supergraph.id);
    expect(await reloadCount('success')).toBe(1);
    expect(gw.logs.find((l) => l.msg === 'supergraph reloaded')).toHaveLength(1);
  });

  it('keeps serving the previous supergraph when the new file fails to load, and says so', async () => {
    const failuresBefore = await reloadCount('failure');
    replaceAtomically('this is not a supergraph {');
    await eventually(
      () => reloadCount('failure'),
      (n) => n > failuresBefore,
    );

    // A well-formed SDL that is not a supergraph fails later, in the gateway's own checks.
    replaceAtomically('type Query { hello: String }');
    await eventually(
      () => reloadCount('failure'),
      (n) => n > failuresBefore + 1,
    );

    const still = await postGraphql(gw.graphqlUrl, { query: CAPACITY_QUERY });
    expect(still.status).toBe(200);
    expect(still.body.data).toEqual({
      warehouses: [
        { code: 'AMS', capacity: 1200 },
        { code: 'LIS', capacity: 800 },
      ],
    });
    const errors = gw.logs.find((l) => l.msg === 'supergraph reload failed; the previous supergraph keeps serving');
    expect(errors.length).toBeGreaterThanOrEqual(2);
    expect((await fetch(`${gw.url}/ready`)).status).toBe(200);

    // And a good file after a bad one is picked up again.
    replaceAtomically(composeTiny(subgraph.url, TINY_SDL_V2.replace('capacity: Int!', 'capacity: Int!, region: String')));
    const recovered = await eventually(
      () => postGraphql(gw.graphqlUrl, { query: '{ __type(name: "Warehouse") { fields { name } } }' }),
      (r) => JSON.stringify(r.body).includes('region'),
    );
    expect(JSON.stringify(recovered.body)).toContain('region');
  });
});
