import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { ClientRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../gateway/src/config/index.js';
import { createGateway, type Gateway } from '../gateway/src/server.js';
import { LogCapture } from './helpers/logs.js';
import { sleep, useTinySubgraph } from './helpers/tiny-subgraph.js';

const tiny = useTinySubgraph();

/** Every host the process opens an HTTP request to (node:http and undici, which fetch uses). */
function recordOutgoingHosts(): { hosts: string[]; stop(): void } {
  const hosts: string[] = [];
  const onHttp = (message: unknown) => hosts.push(String((message as { request: ClientRequest }).request.host));
  const onUndici = (message: unknown) => hosts.push(new URL((message as { request: { origin: string } }).request.origin).hostname);
  subscribe('http.client.request.start', onHttp);
  subscribe('undici:request:create', onUndici);
  return {
    hosts,
    stop() {
      unsubscribe('http.client.request.start', onHttp);
      unsubscribe('undici:request:create', onUndici);
    },
  };
}

describe('outbound calls', () => {
  let gateway: Gateway;
  let recorder: ReturnType<typeof recordOutgoingHosts>;

  beforeAll(async () => {
    recorder = recordOutgoingHosts();
    const config = loadConfig({
      env: {},
      overrides: {
        server: { host: '127.0.0.1', port: 0 },
        supergraph: { path: tiny.supergraphPath, watch: false },
        metrics: { defaultMetrics: false },
      },
    });
    gateway = createGateway(config, { logDestination: new LogCapture() });
    await gateway.start();
  });

  afterAll(async () => {
    recorder.stop();
    await gateway.close();
  });

  it('go to the configured subgraphs only: no usage reporting and no cloud metadata probes (@apollo/gateway does both by default)', async () => {
    const response = await fetch(`${gateway.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ slow(ms: 1) }' }),
    });
    expect(response.status).toBe(200);
    // The cloud detectors and the usage exporter start in the background within moments of the gateway's construction.
    await sleep(1_500);
    expect(recorder.hosts.length).toBeGreaterThan(0);
    expect(recorder.hosts.filter((host) => host !== '127.0.0.1' && host !== 'localhost')).toEqual([]);
    expect(process.env.APOLLO_TELEMETRY_DISABLED).toBeUndefined();
  });
});
