import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface GatewayProcess {
  child: ChildProcess;
  stdout: string[];
  stderr: string;
  /** Resolves with the gateway's base URL once it logged "gateway ready". */
  ready: Promise<string>;
  /**
   * Resolves once the process exited AND its stdout and stderr were read to the end ('close', not
   * 'exit': on a loaded machine 'exit' can come before the last lines are read).
   */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Runs `gateway/src/main.ts` as a real process (as `npm run start:gateway` does), on the given env;
 * `nodeArgs` go to Node before the entry point (e.g. `--expose-gc`, a preload).
 */
export function spawnGateway(env: Record<string, string>, args: string[] = [], nodeArgs: string[] = []): GatewayProcess {
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', 'gateway/src/main.ts', ...args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const result: GatewayProcess = {
    child,
    stdout: [],
    stderr: '',
    ready: Promise.resolve(''),
    exited: new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal }))),
  };
  result.ready = new Promise((resolve, reject) => {
    let buffered = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        result.stdout.push(line);
        if (line.includes('"gateway ready"')) resolve((JSON.parse(line) as { url: string }).url);
      }
    });
    child.stderr?.on('data', (chunk: Buffer) => (result.stderr += chunk.toString('utf8')));
    void result.exited.then(({ code }) => reject(new Error(`gateway exited with ${code} before ready: ${result.stderr}`)));
  });
  result.ready.catch(() => undefined);
  return result;
}
