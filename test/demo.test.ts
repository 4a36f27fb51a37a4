import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { freePort } from './helpers/ports.js';
import { REPO_ROOT } from './helpers/process.js';

describe('npm start (the README quick start)', () => {
  it('serves the demo, and stops it, subgraphs included, when npm itself gets SIGTERM', async () => {
    const [gateway, users, orders, products] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    const npm = spawn('npm', ['start'], {
      cwd: REPO_ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/tmp',
        HOST: '127.0.0.1',
        PORT: String(gateway),
        USERS_PORT: String(users),
        ORDERS_PORT: String(orders),
        PRODUCTS_PORT: String(products),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group, so that whatever happens the test can take every process down after.
      detached: true,
    });
    let output = '';
    npm.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    npm.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    const exited = new Promise<number | null>((resolve) => npm.on('exit', (code) => resolve(code)));
    try {
      const deadline = Date.now() + 60_000;
      while (!output.includes('Ctrl-C (SIGINT) or SIGTERM') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(output).toContain(`http://127.0.0.1:${gateway}/graphql`);
      const answer = await fetch(`http://127.0.0.1:${gateway}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"query":"{ topProducts(first: 1) { name } }"}',
      });
      expect(answer.status).toBe(200);
    } finally {
      // What a process supervisor (or `timeout`) does: signal npm, not the process group.
      npm.kill('SIGTERM');
    }
    try {
      expect(await exited).toBe(0);
      expect(output).toContain('demo: stopped');
      for (const port of [gateway, users, orders, products]) {
        await expect(fetch(`http://127.0.0.1:${port}/health`)).rejects.toThrow();
      }
    } finally {
      try {
        process.kill(-(npm.pid as number), 'SIGKILL'); // leftovers of a failed run, if any
      } catch {
        // the group is gone: the demo stopped by itself
      }
    }
  }, 90_000);
});
