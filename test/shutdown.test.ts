import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DUPLICATE_SIGNAL_WINDOW_MS } from '../gateway/src/shutdown-signals.js';
import { spawnGateway } from './helpers/process.js';
import { sleep, useTinySubgraph } from './helpers/tiny-subgraph.js';

const tiny = useTinySubgraph();

function slowQuery(url: string, ms: number) {
  return fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: `{ slow(ms: ${ms}) }` }),
  });
}

/** Resolves once the subgraph has received one more request than before: the gateway holds it in flight. */
async function reachedSubgraph(before: number): Promise<void> {
  while (tiny.subgraph.receivedHeaders.length <= before) await sleep(10);
}

describe('graceful shutdown', () => {
  it('on SIGTERM stops accepting, finishes in-flight requests, and exits 0', async () => {
    const gateway = spawnGateway({ SUPERGRAPH_PATH: tiny.supergraphPath });
    const url = await gateway.ready;

    const received = tiny.subgraph.receivedHeaders.length;
    const inFlight = slowQuery(url, 1_500);
    await reachedSubgraph(received);
    gateway.child.kill('SIGTERM');
    // Once the signal is handled (however loaded the machine), the listener is closed at once.
    await waitForLine(gateway.stdout, 'shutting down: finishing in-flight requests');

    // New connections are refused while the in-flight request is still running.
    await expect(fetch(`${url}/health`)).rejects.toThrow();

    const response = await inFlight;
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      data: { slow: 'waited 1500ms' },
      extensions: { cost: expect.objectContaining({ actualQueryCost: 0 }) },
    });

    const { code } = await gateway.exited;
    expect(code).toBe(0);
    const messages = gateway.stdout.map((line) => (JSON.parse(line) as { msg: string }).msg);
    expect(messages).toContain('shutting down: finishing in-flight requests');
    expect(messages.at(-1)).toBe('shutdown complete');
    // Drained on its own, not by the deadline (a kept-alive client socket must not hold it open).
    expect(messages).not.toContain('shutdown deadline passed: cutting remaining connections');
  });

  it('ignores a relayed copy of the signal, but a later second signal exits at once', async () => {
    const gateway = spawnGateway({ SUPERGRAPH_PATH: tiny.supergraphPath });
    const url = await gateway.ready;
    const received = tiny.subgraph.receivedHeaders.length;
    const drained = slowQuery(url, 600);
    await reachedSubgraph(received);
    // npm and the terminal both deliver Ctrl-C: the same signal twice, milliseconds apart.
    gateway.child.kill('SIGINT');
    gateway.child.kill('SIGINT');
    expect((await drained).status).toBe(200);
    expect((await gateway.exited).code).toBe(0);

    const insisted = spawnGateway({ SUPERGRAPH_PATH: tiny.supergraphPath });
    const insistedUrl = await insisted.ready;
    const insistedReceived = tiny.subgraph.receivedHeaders.length;
    const cut = slowQuery(insistedUrl, 5_000).then(
      (r) => r.status,
      () => 'connection cut',
    );
    await reachedSubgraph(insistedReceived);
    insisted.child.kill('SIGTERM');
    // The copy window counts from when the gateway handled the first signal, which a loaded machine delays.
    await waitForLine(insisted.stdout, 'shutting down: finishing in-flight requests');
    await sleep(DUPLICATE_SIGNAL_WINDOW_MS + 200);
    insisted.child.kill('SIGTERM');
    expect((await insisted.exited).code).toBe(143);
    expect(await cut).toBe('connection cut');
  });

  it('cuts requests that outlive the shutdown deadline and exits 1', async () => {
    const gateway = spawnGateway({ SUPERGRAPH_PATH: tiny.supergraphPath }, [
      '--config',
      writeConfig('server:\n  shutdownTimeoutMs: 300\n'),
    ]);
    const url = await gateway.ready;
    const received = tiny.subgraph.receivedHeaders.length;
    const inFlight = slowQuery(url, 5_000).then(
      (r) => r.status,
      () => 'connection cut',
    );
    await reachedSubgraph(received);
    const signalledAt = Date.now();
    gateway.child.kill('SIGTERM');
    const { code } = await gateway.exited;
    expect(code).toBe(1);
    expect(Date.now() - signalledAt).toBeLessThan(4_000);
    expect(await inFlight).toBe('connection cut');
    expect(gateway.stdout.join('\n')).toContain('shutdown deadline passed');
  });
});

async function waitForLine(lines: string[], msg: string): Promise<void> {
  while (!lines.some((line) => line.includes(`"msg":"${msg}"`))) await sleep(10);
}

function writeConfig(content: string): string {
  const path = `${tiny.supergraphPath}.gateway.yaml`;
  writeFileSync(path, content);
  return path;
}
