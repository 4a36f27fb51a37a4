import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, startCostGateway, startCountedSubgraphs, type CountedSubgraphs } from './helpers/cost-stack.js';
import { postGraphql, type TestGateway } from './helpers/gateway.js';

/** The cost page of the manual: its worked example is what these tests keep true. */
const section = readFileSync(new URL('../docs/cost-and-rate-limits.md', import.meta.url), 'utf8');
const block = (lang: string, after: string) =>
  new RegExp('```' + lang + '\\n([\\s\\S]+?)\\n```').exec(section.slice(section.indexOf(after)))?.[1];
/**
 * What depends on when the test runs: seconds until a limit is full or a window moves on, and the
 * burst bucket's points left (it refills by 20/s between the charge and the refund, so ±a few).
 */
const timeless = (text: string) =>
  text
    .replace(/;t=\d+/g, ';t=…')
    .replace(/(x-ratelimit-reset: )\d+/, '$1…')
    .replace(/("burst";r=)\d+/, '$1…')
    .replace(/(x-ratelimit-remaining: )\d+/, '$1…');
const burstLeft = (text: string) => Number(/"burst";r=(\d+)/.exec(text)?.[1]);

let counted: CountedSubgraphs;
let gw: TestGateway;
beforeAll(async () => {
  counted = await startCountedSubgraphs();
  gw = await startCostGateway(counted, {}); // the defaults: in-memory budgets, the default tiers
});
afterAll(async () => {
  await gw?.close();
  await counted?.close();
});

describe('the worked example of docs/cost-and-rate-limits.md', () => {
  it('shows exactly what `npm run cost` prints for the example query', () => {
    const shown = block('text', 'npm run cost -- examples/user-orders.graphql');
    expect(shown).toBeDefined();
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/cost.ts', 'examples/user-orders.graphql'], { encoding: 'utf8' });
    expect(run.status).toBe(0);
    expect(run.stdout.trimEnd()).toBe(shown);
  });

  it('shows the headers and extensions a free-tier client gets for it (times aside)', async () => {
    const shownHeaders = block('http', 'curl -si');
    const shownBody = block('json', 'curl -si');
    expect(shownHeaders).toBeDefined();
    const query = readFileSync('examples/user-orders.graphql', 'utf8');
    const token = await bearer('user-1', 'free');
    const started = performance.now();
    const result = await postGraphql(gw.graphqlUrl, { query }, token);
    const elapsedSeconds = (performance.now() - started) / 1000;
    const lines = [`HTTP/1.1 ${result.status} OK`];
    for (const name of ['ratelimit-policy', 'ratelimit', 'x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset']) {
      lines.push(`${name}: ${result.headers.get(name)}`);
    }
    const received = lines.join('\n');
    expect(timeless(received)).toBe(timeless(shownHeaders as string));
    // The burst bucket refills 20 points a second between the charge and the refund: a slow request
    // (a loaded machine) ends with more left, never with fewer.
    const drift = burstLeft(received) - burstLeft(shownHeaders as string);
    expect(drift).toBeGreaterThanOrEqual(-3);
    expect(drift).toBeLessThanOrEqual(3 + Math.ceil(20 * elapsedSeconds));
    expect(result.headers.get('x-ratelimit-remaining')).toBe(String(burstLeft(received)));
    const shown = JSON.parse(shownBody as string) as { extensions: { cost: { throttleStatus: { currentlyAvailable: number } } } };
    shown.extensions.cost.throttleStatus.currentlyAvailable = burstLeft(received);
    expect({ extensions: result.body.extensions }).toEqual(shown);
    // The refund: the daily window (no refill) holds exactly the capacity minus the actual cost.
    expect(received).toContain('"daily";r=199969;');
  });
});
