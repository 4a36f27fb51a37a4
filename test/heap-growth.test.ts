import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from './helpers/process.js';
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
function peakOldSpace(configYaml: string): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'heap-growth-'));
  writeFileSync(join(dir, 'gateway.yaml'), configYaml);
  const child = spawn(
    process.execPath,
    [
      '--expose-gc',
      '--import',
      'tsx',
      '--import',
      './test/helpers/heap-growth-probe.mjs',
      'gateway/src/main.ts',
      '--config',
      join(dir, 'gateway.yaml'),
    ],
    {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', SUPERGRAPH_PATH: supergraphPath },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    let probing = false;
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      // Started, config applied: now the probe may run (a cold start through tsx can take seconds).
      if (!probing && out.includes('gateway ready')) {
        probing = true;
        child.kill('SIGUSR2');
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
    // Bounded: a gateway that never gets ready or a probe that never ends is stopped, and the test fails.
    const deadline = setTimeout(() => child.kill('SIGKILL'), 45_000);
    child.on('close', (code) => {
      clearTimeout(deadline);
      rmSync(dir, { recursive: true, force: true });
      const line = /HEAP_PROBE (.*)/.exec(out)?.[1];
      if (code !== 0 || !line) return reject(new Error(`gateway exited ${code}: ${err.slice(0, 500)}`));
      const { peakOldSpaceMb, majors } = JSON.parse(line) as { peakOldSpaceMb: number; majors: number };
      if (majors !== 2) return reject(new Error(`the probe saw ${majors} full collections, not 2`));
      resolve(peakOldSpaceMb);
    });
  });
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
