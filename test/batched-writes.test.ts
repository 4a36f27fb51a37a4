import { describe, expect, it } from 'vitest';
import { BatchedWrites } from '../gateway/src/cache/batched-writes.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('cache writes held to be sent together', () => {
  it('issues no write before its window ends, then every held write at once, each settling as it does', async () => {
    const writes = new BatchedWrites(100);
    const issued: string[] = [];
    const write =
      (name: string, fail = false) =>
      () => {
        issued.push(name);
        return fail ? Promise.reject(new Error(`${name} failed`)) : Promise.resolve(name);
      };
    const a = writes.run(write('a'));
    const b = writes.run(write('b', true));
    const c = writes.run(write('c'));
    await sleep(20);
    expect(issued).toEqual([]);
    expect(await a).toBe('a');
    expect(issued).toEqual(['a', 'b', 'c']);
    await expect(b).rejects.toThrow('b failed');
    expect(await c).toBe('c');
    // The next write opens a new window.
    const d = writes.run(write('d'));
    await sleep(20);
    expect(issued).toHaveLength(3);
    expect(await d).toBe('d');
  });

  it('sends a full batch before its window ends, and everything held when flushed', async () => {
    const writes = new BatchedWrites(60_000);
    let issued = 0;
    const held = Array.from({ length: 256 }, () => writes.run(async () => ++issued));
    expect(issued).toBe(256);
    await Promise.all(held);
    const late = writes.run(async () => ++issued);
    expect(issued).toBe(256);
    const flushed = writes.flush();
    expect(issued).toBe(257);
    await flushed;
    expect(await late).toBe(257);
  });
});
