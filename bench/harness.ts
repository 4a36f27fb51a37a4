import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { SignJWT } from 'jose';
import { withEnforcedSecurityLinksUnmarked } from '../gateway/src/supergraph/security-links.js';
import type { Scenario } from './scenarios.js';

/** What every benchmark script shares: the token, the thin subgraphs, the supergraph, gateway processes. */
export { freePort } from '../test/helpers/ports.js';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** A fresh secret each run: our gateway verifies the bench token with it (the others ignore it). */
export const JWT_SECRET = randomBytes(32).toString('hex');
export const TOKEN = await new SignJWT({ scope: 'orders:read:all', tier: 'enterprise' })
  .setProtectedHeader({ alg: 'HS256' })
  .setIssuer('bench')
  .setAudience('bench')
  .setSubject('bench-client')
  .setIssuedAt()
  .setExpirationTime('2h')
  .sign(new TextEncoder().encode(JWT_SECRET));
/** One user, their orders and the orders' products (users → orders → products): the resilience benchmarks' query. */
export const USER_ORDERS_QUERY =
  'query UserOrders($id: ID!) { user(id: $id) { name orders(first: 2) { edges { node { id total items { quantity product { name price } } } } } } }';

export const REQUEST_HEADERS = { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` };

export const tsx = (script: string, scriptArgs: string[], env: Record<string, string>) =>
  spawn(process.execPath, ['--import', 'tsx', join(ROOT, script), ...scriptArgs], {
    cwd: ROOT,
    env: { ...process.env, NODE_ENV: 'production', BENCH_JWT_SECRET: JWT_SECRET, ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });

export async function waitForGraphql(url: string, child: ChildProcess, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`gateway exited with ${child.exitCode} before answering`);
    try {
      const response = await fetch(url, { method: 'POST', headers: REQUEST_HEADERS, body: '{"query":"{ __typename }"}' });
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`gateway at ${url} did not answer within ${timeoutMs} ms`);
}

/**
 * The bench's subgraphs in a process of their own. `replay` answers a repeated operation from a
 * response cache (the gateway is the only bottleneck); `compute` executes every request and does
 * real work per resolved object, as a real service would (load is not shifted away from subgraphs).
 */
export type SubgraphMode = 'compute' | 'replay';

export async function startSubgraphs(mode: SubgraphMode = 'replay'): Promise<{ child: ChildProcess; urls: Record<string, string> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/thin-subgraphs.ts')], {
    cwd: ROOT,
    env: { ...process.env, BENCH_SUBGRAPHS: mode },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const urls = await new Promise<Record<string, string>>((resolve, reject) => {
    let buffered = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const line = buffered.split('\n').find((l) => l.includes('"ready"'));
      if (line) resolve((JSON.parse(line) as { urls: Record<string, string> }).urls);
    });
    child.on('exit', (code) => reject(new Error(`thin subgraphs exited with ${code}`)));
  });
  return { child, urls };
}

/**
 * The committed supergraph, pointed at the benchmark's subgraphs. Its @authenticated and
 * @requiresScopes links are unmarked as our gateway does it, so that bare Apollo Gateway (which
 * refuses `for: SECURITY` links) loads the same file; the directives stay, ours enforces them.
 */
export function writeSupergraph(urls: Record<string, string>): string {
  let sdl = withEnforcedSecurityLinksUnmarked(readFileSync(join(ROOT, 'schema/supergraph.graphql'), 'utf8'));
  for (const [name, url] of Object.entries(urls)) {
    sdl = sdl.replace(new RegExp(`(@join__graph\\(name: "${name}", url: ")[^"]*(")`), `$1${url}$2`);
  }
  const path = join(mkdtempSync(join(tmpdir(), 'bench-supergraph-')), 'supergraph.graphql');
  writeFileSync(path, sdl);
  return path;
}

/** Starts a TypeScript child process and resolves with the JSON of its first stdout line. */
export function startChild<T>(script: string, args: string[] = []): Promise<{ child: ChildProcess; info: T }> {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: ROOT,
    env: { ...process.env, BENCH_JWT_SECRET: JWT_SECRET },
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    let buffered = '';
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const newline = buffered.indexOf('\n');
      if (newline < 0) return;
      child.stdout?.off('data', onData);
      child.stdout?.resume();
      resolve({ child, info: JSON.parse(buffered.slice(0, newline)) as T });
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code} before it was ready`)));
  });
}

export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

/**
 * autocannon load on one gateway: the scenario's i-th body on the i-th request, with the bench
 * token. `first` is the index of the first request: a measured load that follows a warm-up starts
 * where the warm-up stopped (its `requests.sent`), so a varied scenario does not ask the warm-up's
 * pages again (a repeated page is a second answer, which a gateway may treat differently from a
 * first one, e.g. write its fallback copy).
 */
export function load(
  url: string,
  scenario: Scenario,
  seconds: number,
  connections: number,
  extra: Partial<autocannon.Options> = {},
  first = 0,
): Promise<autocannon.Result> {
  let i = first;
  const rest = scenario.rest;
  if (rest) {
    return autocannon({
      url: new URL(url).origin,
      connections,
      duration: seconds,
      method: 'GET',
      headers: { authorization: REQUEST_HEADERS.authorization, ...rest.headers },
      requests: [{ setupRequest: (request) => ({ ...request, method: 'GET', path: rest.path(i++) }) }],
      ...extra,
    });
  }
  return autocannon({
    url,
    connections,
    duration: seconds,
    method: 'POST',
    headers: REQUEST_HEADERS,
    requests: [{ setupRequest: (request) => ({ ...request, body: scenario.body(i++) }) }],
    ...extra,
  });
}

/** Wrong answers seen during a checked load: how many, and the first one's reason. */
export interface Correctness {
  checked: number;
  wrong: number;
  first?: string | undefined;
}

/** `load`, with every answer checked against the scenario's expected answer for that request; `first` as in `load`. */
export async function loadChecked(
  url: string,
  scenario: Scenario,
  seconds: number,
  connections: number,
  first = 0,
): Promise<{ result: autocannon.Result; correctness: Correctness }> {
  let i = first;
  const correctness: Correctness = { checked: 0, wrong: 0 };
  const rest = scenario.rest;
  const onResponse = (status: number, body: string, context: object) => {
    const index = (context as { i: number }).i;
    correctness.checked++;
    const reason = scenario.verify ? scenario.verify(status, body, index) : 'the scenario has no answer check';
    if (reason !== undefined) {
      correctness.wrong++;
      correctness.first ??= `request ${index}: ${reason}`;
    }
  };
  const result = await autocannon({
    url: rest ? new URL(url).origin : url,
    connections,
    duration: seconds,
    method: rest ? 'GET' : 'POST',
    headers: rest ? { authorization: REQUEST_HEADERS.authorization, ...rest.headers } : REQUEST_HEADERS,
    requests: [
      {
        setupRequest: (request, context: object) => {
          (context as { i: number }).i = i;
          return rest ? { ...request, method: 'GET', path: rest.path(i++) } : { ...request, body: scenario.body(i++) };
        },
        onResponse,
      },
    ],
  });
  return { result, correctness };
}
