// Bare @apollo/gateway + @apollo/server (standalone), defaults, no plugins: the baseline of
// `npm run bench`, started with plain `node` as production would run it (no TypeScript loader).
// Listens on 127.0.0.1:BENCH_PORT and serves the supergraph in BENCH_SUPERGRAPH.
import { readFileSync } from 'node:fs';
import { ApolloGateway } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';

// No usage reporting or cloud metadata probes, as in our gateway (a measured gateway calls its subgraphs only).
process.env.APOLLO_TELEMETRY_DISABLED = 'true';
const server = new ApolloServer({ gateway: new ApolloGateway({ supergraphSdl: readFileSync(process.env.BENCH_SUPERGRAPH, 'utf8') }) });
await startStandaloneServer(server, { listen: { host: '127.0.0.1', port: Number(process.env.BENCH_PORT) } });
process.on('SIGTERM', () => process.exit(0));
