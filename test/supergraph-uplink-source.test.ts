import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../gateway/src/config/index.js';
import { createGateway } from '../gateway/src/server.js';
import { postGraphql, startTestGateway, type TestGateway } from './helpers/gateway.js';
import { LogCapture } from './helpers/logs.js';
import { eventually, metricValue } from './helpers/resilience.js';
import { startUplinkServer, type UplinkAnswer, type UplinkRequest, type UplinkServer } from './helpers/supergraph-servers.js';
import { TINY_SDL, TINY_SDL_V2, composeTiny, sleep, startTinySubgraph, type TinySubgraph } from './helpers/tiny-subgraph.js';

const CAPACITY = '{ warehouses { code capacity } }';
const KEY_ENV = `TEST_APOLLO_KEY_${process.pid}`;
const KEY = 'service:my-graph:uplink-key-never-logged';
const GRAPH_REF = 'my-graph@production';

let subgraph: TinySubgraph;
let primary: UplinkServer;
let secondary: UplinkServer;
let gw: TestGateway;
/** The compositions the fake GraphOS has published, newest last. */
const published: { id: string; sdl: string }[] = [];

/** Uplink's rule: the newest composition when `ifAfterId` is not it, else `Unchanged`. */
function registry(request: UplinkRequest): Extract<UplinkAnswer, { minDelaySeconds: number }> {
  const newest = published.at(-1) as { id: string; sdl: string };
  if (request.variables.ifAfterId === newest.id) return { __typename: 'Unchanged', id: newest.id, minDelaySeconds: 0.01 };
  return { __typename: 'RouterConfigResult', id: newest.id, supergraphSdl: newest.sdl, minDelaySeconds: 0.01 };
}

interface Ready {
  supergraph: {
    source: { kind: string; location: string; version?: { id?: string }; lastError?: { message: string }; usingCachedCopy: boolean };
  };
}
const ready = async () => ((await (await fetch(`${gw.url}/ready`)).json()) as Ready).supergraph.source;
const fetches = (result: string) => metricValue(gw, 'gateway_supergraph_fetches_total', { source: 'uplink', result });

beforeAll(async () => {
  process.env[KEY_ENV] = KEY;
  subgraph = await startTinySubgraph();
  published.push({ id: 'composition-1', sdl: composeTiny(subgraph.url, TINY_SDL) });
  // The first endpoint is down (503): every fetch must fail over to the second.
  primary = await startUplinkServer(() => ({ status: 503 }));
  secondary = await startUplinkServer(registry);
  gw = await startTestGateway({
    supergraph: {
      source: 'uplink',
      uplink: { graphRef: GRAPH_REF, apiKeyEnv: KEY_ENV, endpoints: [primary.url, secondary.url], pollIntervalMs: 50 },
    },
    server: { readinessDetail: true },
  });
});

afterAll(async () => {
  await gw?.close();
  await primary?.close();
  await secondary?.close();
  await subgraph?.close();
  delete process.env[KEY_ENV];
});

describe('the uplink source', () => {
  it('fails over to the next endpoint, sends the key, graph ref and ifAfterId, and serves each newer composition', async () => {
    expect(primary.requests).toHaveLength(1);
    const [first] = secondary.requests;
    expect(first?.operationName).toBe('SupergraphSdl');
    expect(first?.query).toContain('routerConfig(ref: $ref, apiKey: $apiKey, ifAfterId: $ifAfterId)');
    expect(first?.variables).toEqual({ apiKey: KEY, ref: GRAPH_REF, ifAfterId: null });
    expect((await postGraphql(gw.graphqlUrl, { query: CAPACITY })).status).toBe(400);

    // Polls send back the id they were given; Uplink answers Unchanged.
    expect(await eventually(async () => (await fetches('unchanged')) >= 3)).toBe(true);
    expect(secondary.requests[1]?.variables).toEqual({ apiKey: KEY, ref: GRAPH_REF, ifAfterId: 'composition-1' });

    published.push({ id: 'composition-2', sdl: composeTiny(subgraph.url, TINY_SDL_V2) });
    expect(await eventually(async () => (await postGraphql(gw.graphqlUrl, { query: CAPACITY })).status === 200)).toBe(true);
    expect(await eventually(() => secondary.requests.at(-1)?.variables.ifAfterId === 'composition-2')).toBe(true);
    expect(await fetches('updated')).toBe(2);
    // The endpoint that answered stays first: the one that is down was asked only once.
    expect(primary.requests).toHaveLength(1);

    const source = await ready();
    expect(source).toMatchObject({
      kind: 'uplink',
      location: `${primary.url}, ${secondary.url}`,
      version: { id: 'composition-2' },
      usingCachedCopy: false,
    });
    expect(gw.logs.raw).not.toContain(KEY);
  });

  it('keeps the current supergraph on a FetchError, and fails over only when Uplink says to retry elsewhere', async () => {
    const errorsBefore = await fetches('error');
    const primaryBefore = primary.requests.length;
    secondary.answer = () => ({ __typename: 'FetchError', code: 'AUTHENTICATION_FAILED', message: 'invalid API key' });
    expect(await eventually(async () => (await fetches('error')) >= errorsBefore + 2)).toBe(true);
    expect((await ready()).lastError?.message).toContain('FetchError AUTHENTICATION_FAILED: invalid API key');
    expect(primary.requests).toHaveLength(primaryBefore);
    expect((await postGraphql(gw.graphqlUrl, { query: CAPACITY })).status).toBe(200);
    expect((await fetch(`${gw.url}/ready`)).status).toBe(200);

    // RETRY_LATER is about this endpoint: the other one is asked, and answers.
    secondary.answer = () => ({ __typename: 'FetchError', code: 'RETRY_LATER', message: 'busy' });
    primary.answer = registry;
    expect(await eventually(async () => (await ready()).lastError === undefined)).toBe(true);
    expect(primary.requests.at(-1)?.variables.ifAfterId).toBe('composition-2');
    expect((await postGraphql(gw.graphqlUrl, { query: CAPACITY })).status).toBe(200);
  });

  it('waits at least the minDelaySeconds Uplink asks for, however short the poll interval', async () => {
    let slowedDown = 0;
    const slowDown = (request: UplinkRequest): UplinkAnswer => {
      slowedDown++;
      return { ...registry(request), minDelaySeconds: 3_600 };
    };
    primary.answer = slowDown;
    secondary.answer = slowDown;
    const asked = () => primary.requests.length + secondary.requests.length;
    // One fetch at a time: once one answer asked for an hour, no request may follow it.
    expect(await eventually(() => slowedDown > 0)).toBe(true);
    const afterSlowDown = asked();
    await sleep(800); // 16 poll intervals
    expect(asked()).toBe(afterSlowDown);
  });
});

describe('uplink during a GraphOS outage', () => {
  it("starts from the last good copy when every endpoint fails, and takes the registry's supergraph once it answers", async () => {
    const cacheFile = join(mkdtempSync(join(tmpdir(), 'gw-uplink-copy-')), 'copy.graphql');
    writeFileSync(cacheFile, published[0]?.sdl as string);
    const down = (): UplinkAnswer => ({ status: 503 });
    const first = await startUplinkServer(down);
    const second = await startUplinkServer(down);
    const cold = await startTestGateway({
      supergraph: {
        source: 'uplink',
        uplink: { graphRef: GRAPH_REF, apiKeyEnv: KEY_ENV, endpoints: [first.url, second.url], pollIntervalMs: 50 },
        cacheFile,
      },
      server: { readinessDetail: true },
    });
    try {
      expect((await postGraphql(cold.graphqlUrl, { query: '{ warehouses { code } }' })).status).toBe(200);
      const source = ((await (await fetch(`${cold.url}/ready`)).json()) as Ready).supergraph.source;
      expect(source).toMatchObject({ kind: 'uplink', usingCachedCopy: true });
      expect(source.lastError?.message).toContain(`${first.url}: HTTP 503; ${second.url}: HTTP 503`);

      second.answer = registry;
      expect(await eventually(async () => (await postGraphql(cold.graphqlUrl, { query: CAPACITY })).status === 200)).toBe(true);
      expect(readFileSync(cacheFile, 'utf8')).toBe(published.at(-1)?.sdl);
      expect(((await (await fetch(`${cold.url}/ready`)).json()) as Ready).supergraph.source.usingCachedCopy).toBe(false);
    } finally {
      await cold.close();
      await first.close();
      await second.close();
    }
  });
});

describe('uplink credentials', () => {
  it('does not build a gateway without the API key, and names the variable', () => {
    const config = loadConfig({
      env: {},
      overrides: {
        supergraph: {
          source: 'uplink',
          uplink: { graphRef: GRAPH_REF, apiKeyEnv: `${KEY_ENV}_UNSET`, endpoints: ['http://127.0.0.1:9/'] },
        },
      },
    });
    expect(() => createGateway(config, { logDestination: new LogCapture() })).toThrow(
      `environment variable ${KEY_ENV}_UNSET is empty or unset`,
    );
  });
});
