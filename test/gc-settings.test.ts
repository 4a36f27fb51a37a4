import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnGateway } from './helpers/process.js';
import { startTinySubgraph, writeTinySupergraph, type TinySubgraph } from './helpers/tiny-subgraph.js';

// server.heapGrowingPercent and server.parallelScavenge are applied by the entry point
// (gateway/src/main.ts, gc-settings.ts) to V8. Their effects are what is checked, in a real gateway
// process making the same garbage: the old generation grows much less under the default heap growth
// (100) than with 0 (V8's own growth), and by default V8's helper threads take no part in
// scavenges, as they do with parallelScavenge (V8's own trace of each scavenge says so).

let tiny: TinySubgraph;
let supergraphPath: string;
beforeAll(async () => {
  tiny = await startTinySubgraph();
  supergraphPath = writeTinySupergraph(tiny.url);
});
afterAll(() => tiny?.close());

interface ProbeReport {
  peakOldSpaceMb: number;
  majors: number;
  /** How many scavenges V8 traced, and how long its helper threads spent in them (ms, from `background.scavenge.parallel`). */
  scavenges: number;
  helperScavengeMs: number;
}

/** Starts `gateway/src/main.ts` with the probe preloaded; resolves with what the probe saw. */
async function probe(configYaml: string): Promise<ProbeReport> {
  const dir = mkdtempSync(join(tmpdir(), 'gc-settings-'));
  writeFileSync(join(dir, 'gateway.yaml'), configYaml);
  const gateway = spawnGateway(
    { SUPERGRAPH_PATH: supergraphPath },
    ['--config', join(dir, 'gateway.yaml')],
    ['--expose-gc', '--import', './test/helpers/gc-settings-probe.mjs'],
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
    const scavenges = gateway.stdout.filter((l) => / gc=s /.test(l));
    const helperScavengeMs = scavenges.reduce((sum, l) => sum + Number(/ background\.scavenge\.parallel=([\d.]+)/.exec(l)?.[1] ?? 0), 0);
    const report = { ...(JSON.parse(line.slice('HEAP_PROBE '.length)) as ProbeReport), scavenges: scavenges.length, helperScavengeMs };
    if (report.majors !== 2) throw new Error(`the probe saw ${report.majors} full collections, not 2`);
    return report;
  } finally {
    clearTimeout(deadline);
    gateway.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('the garbage collector settings (server.heapGrowingPercent, server.parallelScavenge)', () => {
  it('keep the old generation far smaller than V8 left to itself does, and the scavenges on the main thread', async () => {
    // Two gateways, not three: the second changes both settings, and each is checked on what only
    // it affects (how far the old generation grows; whether helper threads scavenge).
    const [byDefault, v8Own] = await Promise.all([
      probe('server:\n  port: 0\n'),
      probe('server:\n  port: 0\n  heapGrowingPercent: 0\n  parallelScavenge: true\n'),
    ]);
    expect(byDefault.peakOldSpaceMb).toBeLessThan(v8Own.peakOldSpaceMb * 0.75);
    // Scavenges happened in both; only with parallelScavenge did helper threads take part.
    expect(byDefault.scavenges).toBeGreaterThanOrEqual(3);
    expect(v8Own.scavenges).toBeGreaterThanOrEqual(3);
    expect(byDefault.helperScavengeMs).toBe(0);
    expect(v8Own.helperScavengeMs).toBeGreaterThan(0);
  }, 60_000);
});
