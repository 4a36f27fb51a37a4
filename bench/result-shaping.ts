import '../gateway/src/hot-reexports.js';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { ApolloGateway } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { computeResponse as ours, type ComputeResponseInput, type ComputeResponseOutput } from '../gateway/src/graphql/result-shaping.js';
import { startSubgraphs, stop, writeSupergraph } from './harness.js';
import { CROSS_SUBGRAPH } from './scenarios.js';

/**
 * `npx tsx bench/result-shaping.ts`: Apollo's `computeResponse` against the gateway's port
 * (gateway/src/graphql/result-shaping.ts) on real answers. Bare Apollo Gateway runs the
 * users → orders → products query on 64 different pages against the computing bench subgraphs,
 * and every `computeResponse` call's arguments are kept; then both functions shape all 64 answers
 * `--passes` times (default 40) followed by `JSON.stringify`, in alternating rounds, and the time
 * per response is printed. Both must give the same JSON for every answer, or the run fails.
 */
type Shape = (input: ComputeResponseInput) => ComputeResponseOutput;

const passes = Number(process.argv[process.argv.indexOf('--passes') + 1] ?? 40) || 40;
const require = createRequire(import.meta.url);
const shaping = require('@apollo/gateway/dist/resultShaping.js') as { computeResponse: Shape };
const apollo = shaping.computeResponse;
const captured: ComputeResponseInput[] = [];
shaping.computeResponse = (input) => {
  captured.push(input);
  return apollo(input);
};

const subgraphs = await startSubgraphs('compute');
try {
  const server = new ApolloServer({ gateway: new ApolloGateway({ supergraphSdl: readFileSync(writeSupergraph(subgraphs.urls), 'utf8') }) });
  await server.start();
  for (let page = 0; page < 64; page++) {
    const after = Buffer.from(`offset:${page * 10}`).toString('base64url');
    const result = await server.executeOperation({ query: CROSS_SUBGRAPH, variables: { after } });
    if (result.body.kind !== 'single' || result.body.singleResult.errors) throw new Error(`page ${page} failed`);
  }
  await server.stop();
} finally {
  await stop(subgraphs.child);
}
shaping.computeResponse = apollo;

for (const input of captured) {
  if (JSON.stringify(apollo(input)) !== JSON.stringify(ours(input))) throw new Error('the two shapings differ on a captured answer');
}
const bytes = JSON.stringify(apollo(captured[0] as ComputeResponseInput).data).length;
process.stdout.write(`${captured.length} answers captured, the same JSON from both; a response is ${bytes} bytes\n`);
for (let round = 1; round <= 4; round++) {
  for (const [name, shape] of round % 2
    ? ([
        ['apollo', apollo],
        ['gateway', ours],
      ] as const)
    : ([
        ['gateway', ours],
        ['apollo', apollo],
      ] as const)) {
    const started = process.hrtime.bigint();
    for (let pass = 0; pass < passes; pass++) for (const input of captured) JSON.stringify(shape(input).data);
    const micros = Number(process.hrtime.bigint() - started) / 1e3 / (passes * captured.length);
    process.stdout.write(`round ${round} ${name.padEnd(8)} ${micros.toFixed(1)} µs per response (shape + JSON.stringify)\n`);
  }
}
