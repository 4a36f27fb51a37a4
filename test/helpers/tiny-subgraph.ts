import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { composeServices } from '@apollo/composition';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginInlineTraceDisabled } from '@apollo/server/plugin/disabled';
import { startStandaloneServer } from '@apollo/server/standalone';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse } from 'graphql';
import type { IncomingHttpHeaders } from 'node:http';
import { afterAll, beforeAll } from 'vitest';

/**
 * A subgraph the gateway has never seen ("inventory"), built in the test: a `Warehouse` entity and
 * a `slow(ms)` field for in-flight tests. It records the headers of every request it receives.
 */
export const TINY_SDL = `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@key"])
  type Warehouse @key(fields: "code") { code: String!, city: String! }
  type Query {
    warehouses: [Warehouse!]!
    slow(ms: Int!): String!
  }
`;

/** The same subgraph with one more field, to test hot reload. */
export const TINY_SDL_V2 = TINY_SDL.replace('city: String!', 'city: String!, capacity: Int!');

const WAREHOUSES = [
  { code: 'AMS', city: 'Amsterdam', capacity: 1200 },
  { code: 'LIS', city: 'Lisbon', capacity: 800 },
];

export interface TinySubgraph {
  url: string;
  receivedHeaders: IncomingHttpHeaders[];
  close(): Promise<void>;
}

export interface TinySubgraphOptions {
  /** Answer errors with `extensions.stacktrace`, as Apollo Server does in development. */
  stacktraces?: boolean;
  /** SDL to serve instead of {@link TINY_SDL_V2} (it must keep `warehouses` and `slow`). */
  sdl?: string;
  /** Extra resolvers, merged over the default ones. */
  resolvers?: Record<string, Record<string, unknown>>;
  /** Port to listen on (to bring a stopped subgraph back at the same URL). @default 0 */
  port?: number;
}

export async function startTinySubgraph(options: TinySubgraphOptions = {}): Promise<TinySubgraph> {
  const receivedHeaders: IncomingHttpHeaders[] = [];
  const schema = buildSubgraphSchema({
    typeDefs: parse(options.sdl ?? TINY_SDL_V2),
    resolvers: {
      ...options.resolvers,
      Query: {
        warehouses: () => WAREHOUSES,
        slow: async (_: unknown, { ms }: { ms: number }) => {
          await new Promise((resolve) => setTimeout(resolve, ms));
          return `waited ${ms}ms`;
        },
        ...options.resolvers?.Query,
      },
    } as never,
  });
  const server = new ApolloServer({
    schema,
    plugins: [ApolloServerPluginInlineTraceDisabled()],
    includeStacktraceInErrorResponses: options.stacktraces ?? false,
  });
  const { url } = await startStandaloneServer(server, {
    listen: { host: '127.0.0.1', port: options.port ?? 0 },
    context: async ({ req }) => {
      receivedHeaders.push(req.headers);
      return {};
    },
  });
  return { url, receivedHeaders, close: () => server.stop() };
}

/** Composes the tiny subgraph into a supergraph file in a fresh temp dir; returns its path. */
export function writeTinySupergraph(url: string, sdl: string = TINY_SDL, dir?: string): string {
  const supergraph = composeTiny(url, sdl);
  const target = join(dir ?? mkdtempSync(join(tmpdir(), 'gw-supergraph-')), 'supergraph.graphql');
  writeFileSync(target, supergraph);
  return target;
}

export function composeTiny(url: string, sdl: string): string {
  const result = composeServices([{ name: 'inventory', url, typeDefs: parse(sdl) }]);
  if (result.errors) throw new Error(result.errors.map((e) => e.message).join('\n'));
  return result.supergraphSdl;
}

export interface TinyFixture {
  readonly subgraph: TinySubgraph;
  /** A supergraph file that points at the running tiny subgraph. */
  readonly supergraphPath: string;
}

/** Starts the tiny subgraph before the file's tests and stops it after them. */
export function useTinySubgraph(): TinyFixture {
  let subgraph: TinySubgraph | undefined;
  let supergraphPath: string | undefined;
  beforeAll(async () => {
    subgraph = await startTinySubgraph();
    supergraphPath = writeTinySupergraph(subgraph.url);
  });
  afterAll(async () => {
    await subgraph?.close();
  });
  return {
    get subgraph() {
      if (!subgraph) throw new Error('tiny subgraph not started (use it inside a test)');
      return subgraph;
    },
    get supergraphPath() {
      if (!supergraphPath) throw new Error('tiny subgraph not started (use it inside a test)');
      return supergraphPath;
    },
  };
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
