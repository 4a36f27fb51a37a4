import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnGateway } from './helpers/process.js';
import { startTinySubgraph, writeTinySupergraph, type TinySubgraph } from './helpers/tiny-subgraph.js';

// server.heapGrowingPercent is applied by the entry point (gateway/src/main.ts) to V8. Its effect is
// what is checked: in a real gateway process, the same promoted garbage grows the old generation
// much less under the default (100) than with 0 (V8's own growth).

let tiny: TinySubgraph;
let supergraphPath: string;
beforeAll(async () => {
  tiny = await startTinySubgraph();
  supergraphPath = writeTinySupergraph(tiny.url);
});
afterAll(() => tiny?.close());

/** Starts `gateway/src/main.ts` with the probe preloaded; resolves with the largest old generation it saw. */
async function peakOldSpace(configYaml: string): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'heap-growth-'));
  writeFileSync(join(dir, 'gateway.yaml'), configYaml);
  const gateway = spawnGateway(
    { SUPERGRAPH_PATH: supergraphPath },
    ['--config', join(dir, 'gateway.yaml')],
    ['--expose-gc', '--import', './test/helpers/heap-growth-probe.mjs'],
  );
  // Bounded: a gateway that never gets ready or a probe that never ends is stopped, and the test fails.
  const deadline = setTimeout(() => gateway.child.kill('SIGKILL'), 45_000);
  try {
    // Started, config applied: now the probe may run (a cold start through tsx can take seconds).
    await gateway.ready;
    gateway.child.kill('SIGUSR2');
    const { code } = await gateway.exited;
    const line = gateway.stdout.find((l) => l.startsWith('HEAP_PROBE '));
    if (code !== 0 || !line) throw new Error(`gateway exited ${code}: ${gateway.stderr.slice(0, 500)}`);
    const { peakOldSpaceMb, majors } = JSON.parse(line.slice('HEAP_PROBE '.length)) as { peakOldSpaceMb: number; majors: number };
    if (majors !== 2) throw new Error(`the probe saw ${majors} full collections, not 2`);
    return peakOldSpaceMb;
  } finally {
    clearTimeout(deadline);
    gateway.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('server.heapGrowingPercent', () => {
  it('keeps the old generation of a running gateway far smaller than V8 left to itself does', async () => {
    const [byDefault, v8Own] = await Promise.all([
      peakOldSpace('server:\n  port: 0\n'),
      peakOldSpace('server:\n  port: 0\n  heapGrowingPercent: 0\n'),
    ]);
    expect(byDefault).toBeLessThan(v8Own * 0.75);
  }, 60_000);
});
