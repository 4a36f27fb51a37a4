import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEV_ISSUER } from '../gateway/src/auth/dev-secret.js';
import { startBlackhole, type Blackhole } from './helpers/blackhole.js';
import { startTestGateway, type TestGateway } from './helpers/gateway.js';
import { startRestUpstream, type RestUpstream } from './helpers/rest-upstream.js';
import { DEMO_SUPERGRAPH } from './helpers/subgraphs.js';

let upstream: RestUpstream;
let replica: RestUpstream;
let blackhole: Blackhole;
let gw: TestGateway;

const open = { auth: { mode: 'optional' }, retries: { maxRetries: 0 } } as const;
const quickRetry = { maxRetries: 1, baseDelayMs: 1, maxDelayMs: 1 } as const;

beforeAll(async () => {
  upstream = await startRestUpstream();
  replica = await startRestUpstream();
  blackhole = await startBlackhole();
  gw = await startTestGateway({
    supergraph: { path: DEMO_SUPERGRAPH, watch: false },
    auth: { jwt: { issuers: [DEV_ISSUER] } },
    server: { readinessDetail: true },
    // The replicated route's breakers (named after the users subgraph) open once a failure follows a success (50% > 40%).
    subgraphs: { users: { breaker: { volumeThreshold: 1, errorThresholdPercentage: 40, resetTimeoutMs: 60_000 } } },
    rest: {
      // The gateway's defaults: a short first-byte deadline that routes without their own take.
      timeouts: { firstByteMs: 400 },
      routes: [
        { prefix: '/blackhole', upstream: blackhole.origin, timeouts: { connectMs: 300 }, ...open },
        { prefix: '/blackhole-retried', upstream: blackhole.origin, timeouts: { connectMs: 300 }, ...open, retries: quickRetry },
        {
          prefix: '/blackhole-pool',
          upstreams: [{ url: blackhole.origin }, { url: replica.origin }],
          // No probe may take the unreachable replica out before the requests meet it.
          loadBalancing: { strategy: 'round_robin', healthCheck: { enabled: false } },
          timeouts: { connectMs: 300 },
          ...open,
          retries: quickRetry,
        },
        { prefix: '/hasty', upstream: upstream.origin, ...open },
        { prefix: '/patient', upstream: upstream.origin, timeouts: { firstByteMs: 10_000 }, ...open },
        { prefix: '/trickle', upstream: upstream.origin, timeouts: { firstByteMs: 5_000, responseMs: 700 }, ...open },
        {
          prefix: '/trickle-pool',
          upstreams: [{ url: upstream.origin }, { url: replica.origin }],
          breaker: 'users',
          timeouts: { firstByteMs: 5_000, responseMs: 700 },
          ...open,
        },
        {
          prefix: '/trickle-json',
          upstream: upstream.origin,
          timeouts: { firstByteMs: 5_000, responseMs: 700 },
          transform: { response: { json: { remove: ['secret'] } } },
          ...open,
        },
      ],
    },
  });
});

afterAll(async () => {
  await gw?.close();
  await upstream?.close();
  await replica?.close();
  await blackhole?.close();
});

async function breakerFailures(route: string): Promise<number> {
  const ready = (await (await fetch(`${gw.url}/ready`)).json()) as { rest: { prefix: string; state: { failures: number } }[] };
  return ready.rest.find((entry) => entry.prefix === route)?.state.failures ?? -1;
}

async function timeouts(route: string, phase: string): Promise<number> {
  const metrics = await (await fetch(`${gw.url}/metrics`)).text();
  const line = metrics.split('\n').find((l) => l.startsWith(`gateway_rest_upstream_timeouts_total{route="${route}",phase="${phase}"}`));
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('REST route timeouts', () => {
  it('connect: an upstream that never accepts gets 504 UPSTREAM_CONNECT_TIMEOUT, a breaker failure and a metric', async () => {
    const response = await fetch(`${gw.url}/blackhole/x`, { headers: { 'x-request-id': 'connect-1' } });
    expect(response.status).toBe(504);
    expect(await response.json()).toEqual({
      error: 'UPSTREAM_CONNECT_TIMEOUT',
      message: 'The upstream service of this route could not be connected to in time.',
      request_id: 'connect-1',
    });
    expect(await breakerFailures('/blackhole')).toBe(1);
    expect(await timeouts('/blackhole', 'connect')).toBe(1);
  });

  it('connect: the request was never sent, so a GET is retried; each attempt past the deadline counts', async () => {
    const response = await fetch(`${gw.url}/blackhole-retried/x`, { headers: { 'x-request-id': 'connect-2' } });
    expect(response.status).toBe(504);
    expect(await response.json()).toMatchObject({ error: 'UPSTREAM_CONNECT_TIMEOUT', request_id: 'connect-2' });
    expect(await breakerFailures('/blackhole-retried')).toBe(2);
    expect(await timeouts('/blackhole-retried', 'connect')).toBe(2);
  });

  it('connect: with replicas, a GET that cannot connect to one is answered by another', async () => {
    const before = replica.hits.length;
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const response = await fetch(`${gw.url}/blackhole-pool/users/${i}`);
      statuses.push(response.status);
      await response.arrayBuffer();
    }
    expect(statuses).toEqual([200, 200, 200, 200]);
    expect(replica.hits.length - before).toBe(4);
    // Round robin sends at least one of the four to the unreachable replica first.
    expect(await timeouts('/blackhole-pool', 'connect')).toBeGreaterThanOrEqual(1);
  });

  it('first byte: headers later than the gateway default get 504 UPSTREAM_TIMEOUT; a route with its own deadline waits', async () => {
    const before = upstream.hits.length;
    const hasty = await fetch(`${gw.url}/hasty/slow?ms=1500`, { headers: { 'x-request-id': 'first-byte-1' } });
    expect(hasty.status).toBe(504);
    expect(await hasty.json()).toMatchObject({ error: 'UPSTREAM_TIMEOUT', request_id: 'first-byte-1' });
    expect(upstream.hits.length - before).toBe(1);
    expect(await breakerFailures('/hasty')).toBe(1);
    expect(await timeouts('/hasty', 'first_byte')).toBe(1);

    const patient = await fetch(`${gw.url}/patient/slow?ms=800`);
    expect(patient.status).toBe(200);
    expect(await patient.json()).toEqual({ slow: true });
    expect(await timeouts('/patient', 'first_byte')).toBe(0);
  });

  it('whole response: a body still trickling at the deadline is cut (the client sees it incomplete), a breaker failure and a metric', async () => {
    // 40 chunks, one every 50 ms: bytes keep flowing (no first-byte gap), the whole answer would take 2 s.
    const response = await fetch(`${gw.url}/trickle/trickle?chunks=40&ms=50`);
    expect(response.status).toBe(200);
    await expect(response.arrayBuffer()).rejects.toThrow();
    expect(await timeouts('/trickle', 'response')).toBe(1);
    expect(await breakerFailures('/trickle')).toBe(1);
    // A body that completes within the deadline is untouched.
    const quick = await fetch(`${gw.url}/trickle/trickle?chunks=3&ms=10`);
    expect(quick.status).toBe(200);
    expect((await quick.arrayBuffer()).byteLength).toBe(48);
    expect(await timeouts('/trickle', 'response')).toBe(1);
  });

  it('whole response: with replicas, the cut counts on the breaker of the replica that was streaming', async () => {
    const response = await fetch(`${gw.url}/trickle-pool/trickle?chunks=40&ms=50`);
    expect(response.status).toBe(200);
    await expect(response.arrayBuffer()).rejects.toThrow();
    const ready = (await (await fetch(`${gw.url}/ready`)).json()) as {
      rest: { prefix: string; replicas?: { url: string; breaker: string }[] }[];
    };
    const replicas = ready.rest.find((entry) => entry.prefix === '/trickle-pool')?.replicas ?? [];
    expect(replicas.map((entry) => entry.breaker).sort()).toEqual(['closed', 'open']);
    expect(await timeouts('/trickle-pool', 'response')).toBe(1);
  });

  it('whole response: a JSON answer the transform was still reading gets 504 UPSTREAM_RESPONSE_TIMEOUT (nothing was sent yet)', async () => {
    const response = await fetch(`${gw.url}/trickle-json/trickle?chunks=40&ms=50&type=application/json`, {
      headers: { 'x-request-id': 'response-1' },
    });
    expect(response.status).toBe(504);
    expect(await response.json()).toEqual({
      error: 'UPSTREAM_RESPONSE_TIMEOUT',
      message: 'The upstream service of this route did not send its whole answer in time.',
      request_id: 'response-1',
    });
    expect(await timeouts('/trickle-json', 'response')).toBe(1);
    expect(await breakerFailures('/trickle-json')).toBe(1);
    const quick = await fetch(`${gw.url}/trickle-json/trickle?chunks=2&ms=10&type=application/json`);
    expect(quick.status).toBe(200);
    expect(await quick.json()).toEqual([0, 1]);
  });
});
