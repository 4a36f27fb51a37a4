import { ApolloGateway } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import { loadConfig } from '../gateway/src/config/index.js';
import { applyGcSettings } from '../gateway/src/gc-settings.js';
import { createGateway } from '../gateway/src/server.js';
import { listSubgraphs } from '../gateway/src/supergraph/subgraph-list.js';

/**
 * One gateway under test, in a process of its own so that its CPU and memory can be measured alone.
 * `argv[2]`: `apollo` (bare @apollo/gateway + @apollo/server standalone, defaults, no plugins) or
 * `ours` (this repository's gateway, configured by the YAML file in BENCH_CONFIG). Listens on
 * 127.0.0.1:BENCH_PORT and serves the supergraph in BENCH_SUPERGRAPH.
 */
const kind = process.argv[2];
const port = Number(process.env.BENCH_PORT);
const supergraphPath = process.env.BENCH_SUPERGRAPH ?? '';

if (kind === 'apollo') {
  // No usage reporting or cloud metadata probes, as in our gateway (a measured gateway calls its subgraphs only).
  process.env.APOLLO_TELEMETRY_DISABLED = 'true';
  const server = new ApolloServer({ gateway: new ApolloGateway({ supergraphSdl: readFileSync(supergraphPath, 'utf8') }) });
  await startStandaloneServer(server, { listen: { host: '127.0.0.1', port } });
} else if (kind === 'ours') {
  // The REST scenario's upstream is the thin users subgraph, whose address changes every run.
  const users = listSubgraphs(readFileSync(supergraphPath, 'utf8')).find((subgraph) => subgraph.name === 'users');
  const usersOrigin = new URL(users?.url ?? 'http://127.0.0.1:1').origin;
  const config = loadConfig({
    file: process.env.BENCH_CONFIG,
    env: {},
    overrides: {
      server: { host: '127.0.0.1', port },
      supergraph: { path: supergraphPath, watch: false },
      rest: {
        routes: [
          { prefix: '/legacy/users', upstream: usersOrigin, rewrite: '/api/v1/users' },
          // The transformed-route scenario: the same upstream, with a header and a query parameter renamed and a field removed.
          {
            prefix: '/legacy/users-transformed',
            upstream: usersOrigin,
            rewrite: '/api/v1/users',
            transform: {
              request: { headers: { rename: { 'x-client-version': 'x-api-version' } }, query: { rename: { fields: 'select' } } },
              response: { json: { remove: ['email'] } },
            },
          },
        ],
      },
      // `ours-traced`: the same gateway with tracing on, exporting to the bench's receiver.
      ...(process.env.BENCH_TRACES_ENDPOINT ? { tracing: { enabled: true, endpoint: process.env.BENCH_TRACES_ENDPOINT } } : {}),
    },
  });
  // The garbage collector's settings, as gateway/src/main.ts applies them.
  applyGcSettings(config.server);
  // Logs are written as in production (JSON lines, synchronously), to a file nobody reads.
  const gateway = createGateway(config, {
    logDestination: pino.destination({ dest: process.env.BENCH_LOG_FILE ?? '/dev/null', sync: true }),
  });
  await gateway.start();
} else {
  process.stderr.write(`unknown gateway kind: ${kind}\n`);
  process.exit(2);
}
process.on('SIGTERM', () => process.exit(0));
