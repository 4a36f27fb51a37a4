import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { composeServices } from '@apollo/composition';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { graphql, parse } from 'graphql';

/**
 * A thin subgraph (node:http + graphql-js over an `@apollo/subgraph` schema) that echoes what it
 * receives: `<name>Headers` answers the request's headers as JSON. It counts its calls, can answer
 * late (`delayMs`) or fail (`failWith`), and sends the `responseHeaders` it is given.
 */
export interface EchoSubgraph {
  readonly name: string;
  readonly url: string;
  /** Every request's headers, in order. */
  readonly received: IncomingHttpHeaders[];
  /** Headers sent with every answer (a list: one line each). */
  responseHeaders: Record<string, string | string[]>;
  delayMs: number;
  /** When set, every request is answered with this HTTP status and no GraphQL body. */
  failWith: number | undefined;
  close(): Promise<void>;
}

export async function startEchoSubgraph(name: string): Promise<EchoSubgraph> {
  const typeDefs = parse(`
    extend schema @link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@key"])
    type Query { ${name}Headers: String! }
  `);
  const schema = buildSubgraphSchema({
    typeDefs,
    resolvers: {
      Query: {
        [`${name}Headers`]: (_: unknown, __: unknown, context: { headers: IncomingHttpHeaders }) => JSON.stringify(context.headers),
      },
    },
  } as never);
  const received: IncomingHttpHeaders[] = [];
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    received.push(req.headers);
    if (echo.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, echo.delayMs));
    if (echo.failWith !== undefined) {
      res.writeHead(echo.failWith, { 'content-type': 'text/plain' }).end('failing');
      return;
    }
    const { query, variables, operationName } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
      query: string;
      variables?: Record<string, unknown>;
      operationName?: string;
    };
    const result = await graphql({
      schema,
      source: query,
      variableValues: variables,
      operationName,
      contextValue: { headers: req.headers },
    });
    res.writeHead(200, { 'content-type': 'application/json', ...echo.responseHeaders }).end(JSON.stringify(result));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const echo: EchoSubgraph = {
    name,
    url: `http://127.0.0.1:${port}/graphql`,
    received,
    responseHeaders: {},
    delayMs: 0,
    failWith: undefined,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return echo;
}

/** Composes echo subgraphs into a supergraph file in a fresh temp dir; returns its path. */
export function writeEchoSupergraph(subgraphs: readonly EchoSubgraph[]): string {
  const result = composeServices(
    subgraphs.map(({ name, url }) => ({
      name,
      url,
      typeDefs: parse(`
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@key"])
        type Query { ${name}Headers: String! }
      `),
    })),
  );
  if (result.errors) throw new Error(result.errors.map((e) => e.message).join('\n'));
  const target = join(mkdtempSync(join(tmpdir(), 'gw-echo-')), 'supergraph.graphql');
  writeFileSync(target, result.supergraphSdl);
  return target;
}
