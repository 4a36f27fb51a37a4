import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnGateway, type GatewayProcess } from './helpers/process.js';
import { startRestUpstream, type RestUpstream } from './helpers/rest-upstream.js';
import { DEMO_SUPERGRAPH } from './helpers/subgraphs.js';

const SIZE = 150 * 1024 * 1024;
/**
 * Growth of the gateway's resident memory allowed while 150 MB pass through it: half the body, so a
 * gateway that held it would fail by a wide margin. Measured on this machine: +0..+25 MB for uploads,
 * +14..+34 MB for downloads, with 50, 150 and 200 MB bodies alike: it does not grow with the size.
 * It is V8 lag, not the body: freed Buffers' memory returns when a GC runs, and V8 starts one on
 * external-memory growth of a few tens of MB. So RSS cannot be bounded much tighter without tuning
 * the measured process; the backpressure assertions below are the exact proof that nothing waits
 * for (or holds) a whole body.
 */
const MAX_GROWTH = 75 * 1024 * 1024;

/** The gateway process's current resident set size, in bytes (Linux /proc). */
function rss(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error('no VmRSS');
  return Number(match[1]) * 1024;
}

/** Runs `transfer` while sampling the gateway's RSS every 20 ms; the baseline before, the peak during. */
async function measured(pid: number, transfer: () => Promise<void>): Promise<{ baseline: number; peak: number }> {
  const baseline = rss(pid);
  let peak = baseline;
  const timer = setInterval(() => (peak = Math.max(peak, rss(pid))), 20);
  try {
    await transfer();
  } finally {
    clearInterval(timer);
  }
  peak = Math.max(peak, rss(pid));
  return { baseline, peak };
}

const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;

describe('REST passthrough streams bodies both ways with bounded memory (gateway in its own process)', () => {
  let upstream: RestUpstream;
  let gateway: GatewayProcess;
  let url: string;
  let dir: string;
  beforeAll(async () => {
    upstream = await startRestUpstream();
    dir = mkdtempSync(join(tmpdir(), 'rest-streaming-'));
    const configFile = join(dir, 'gateway.yaml');
    // JSON is YAML.
    writeFileSync(
      configFile,
      JSON.stringify({
        supergraph: { path: DEMO_SUPERGRAPH, watch: false },
        metrics: { defaultMetrics: false },
        rest: {
          routes: [
            {
              prefix: '/big',
              upstream: upstream.origin,
              rewrite: '/files',
              methods: ['GET', 'POST'],
              auth: { mode: 'optional' },
              // GET answers are kept for the fallback up to 1 MB: a 150 MB body must stream past the recorder.
              fallback: { cache: true },
            },
          ],
        },
      }),
    );
    gateway = spawnGateway({}, ['--config', configFile]);
    url = await gateway.ready;
  }, 30_000);
  afterAll(async () => {
    gateway?.child.kill('SIGTERM');
    await gateway?.exited;
    await upstream?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a 150 MB download', async () => {
    const pid = gateway.child.pid as number;
    // Warm-up (a gateway that has served traffic): connections, code paths and V8's heap sizing exist
    // before the baseline. 16 MB, read as a stream: less than a third of what is measured.
    for await (const _chunk of (await request(`${url}/big/download?bytes=${16 * 1024 * 1024}`)).body) void _chunk;
    let received = 0;
    let halfway: { upstreamFinished: boolean } | undefined;
    const finishedBefore = upstream.progress.downloadsFinished;
    const { baseline, peak } = await measured(pid, async () => {
      const response = await request(`${url}/big/download?bytes=${SIZE}`);
      expect(response.statusCode).toBe(200);
      expect(response.headers['content-length']).toBe(String(SIZE));
      let paused = 0;
      for await (const chunk of response.body) {
        received += (chunk as Buffer).length;
        // A slow reader: a gateway that buffered would take the whole body from the fast upstream meanwhile.
        if (received - paused >= 1024 * 1024) {
          paused = received;
          await sleep(10);
        }
        // Half-way through, the upstream must still be writing: backpressure reached it through the gateway.
        if (received >= SIZE / 2 && !halfway) halfway = { upstreamFinished: upstream.progress.downloadsFinished > finishedBefore };
      }
    });
    console.log(`download: gateway RSS ${mb(baseline)} MB before, ${mb(peak)} MB peak (+${mb(peak - baseline)} MB) for ${mb(received)} MB`);
    expect(received).toBe(SIZE);
    expect(halfway).toEqual({ upstreamFinished: false });
    expect(upstream.progress.downloadsFinished).toBe(finishedBefore + 1);
    expect(peak - baseline).toBeLessThan(MAX_GROWTH);
  }, 60_000);

  it('a 150 MB upload', async () => {
    const pid = gateway.child.pid as number;
    const chunk = Buffer.alloc(64 * 1024, 0x62);
    let upstreamHadBytesBeforeTheEnd = false;
    const body = () =>
      Readable.from(
        (async function* () {
          for (let sent = 0; sent < SIZE; sent += chunk.length) {
            // Before the last 8 MB leave the client, the upstream has already received some: nothing waits for the whole body.
            if (sent >= SIZE - 8 * 1024 * 1024 && upstream.progress.uploadReceived > receivedBefore + 1024 * 1024)
              upstreamHadBytesBeforeTheEnd = true;
            if (sent % (1024 * 1024) === 0) await sleep(2);
            yield chunk;
          }
        })(),
      );
    await (
      await request(`${url}/big/upload`, { method: 'POST', body: 'warm-up', headers: { 'content-type': 'application/octet-stream' } })
    ).body.text();
    const receivedBefore = upstream.progress.uploadReceived;
    let answer: { bytes: number } = { bytes: 0 };
    const { baseline, peak } = await measured(pid, async () => {
      const response = await request(`${url}/big/upload`, {
        method: 'POST',
        body: body(),
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(SIZE) },
      });
      expect(response.statusCode).toBe(200);
      answer = (await response.body.json()) as { bytes: number };
    });
    console.log(
      `upload: gateway RSS ${mb(baseline)} MB before, ${mb(peak)} MB peak (+${mb(peak - baseline)} MB) for ${mb(answer.bytes)} MB`,
    );
    expect(answer.bytes).toBe(SIZE);
    expect(upstreamHadBytesBeforeTheEnd).toBe(true);
    expect(peak - baseline).toBeLessThan(MAX_GROWTH);
  }, 60_000);
});
