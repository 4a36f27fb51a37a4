import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { RemoteGraphQLDataSource, type GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GatewayContext } from '../gateway/src/context.js';
import type { Fetcher } from '../gateway/src/subgraph/fetch.js';
import { processOperationCall } from '../gateway/src/subgraph/operation-call.js';

// The gateway makes each subgraph call with its own copy of what Apollo's
// RemoteGraphQLDataSource.process() does (subgraph/operation-call.ts), without node-fetch. The
// contract is "the same as Apollo's": both run here against one real HTTP server, and what the
// server received, what the call returned or threw, and the cache hints given to the client's
// cache policy must be the same.

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

interface Received {
  method: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

const ANSWERS: { name: string; answer: Answer }[] = [
  {
    name: 'data, with a public max-age',
    answer: {
      status: 200,
      headers: { 'content-type': 'application/json', 'cache-control': 'max-age=60, public' },
      body: '{"data":{"x":1}}',
    },
  },
  {
    name: 'errors in graphql-response+json, private, a quoted max-age',
    answer: {
      status: 200,
      headers: { 'content-type': 'application/graphql-response+json', 'cache-control': 'private, max-age="30"' },
      body: '{"data":null,"errors":[{"message":"boom","path":["x"]}],"extensions":{"a":1}}',
    },
  },
  {
    name: 'no Cache-Control',
    answer: { status: 200, headers: { 'content-type': 'application/json' }, body: '{"data":{"y":[1,2]}}' },
  },
  {
    name: 'the last max-age not a number',
    answer: {
      status: 200,
      headers: { 'content-type': 'application/json', 'cache-control': 'max-age=10, max-age=abc' },
      body: '{"data":{}}',
    },
  },
  { name: 'text, not JSON', answer: { status: 200, headers: { 'content-type': 'text/plain' }, body: 'hello' } },
  { name: 'a JSON array', answer: { status: 200, headers: { 'content-type': 'application/json' }, body: '[1,2]' } },
  { name: 'a JSON string', answer: { status: 200, headers: { 'content-type': 'application/json' }, body: '"text"' } },
  { name: '401 with a JSON body', answer: { status: 401, headers: { 'content-type': 'application/json' }, body: '{"error":"no"}' } },
  { name: '403 in text', answer: { status: 403, headers: { 'content-type': 'text/plain' }, body: 'forbidden' } },
  { name: '500', answer: { status: 500, headers: { 'content-type': 'text/plain' }, body: 'failing' } },
];

let server: Server;
let url: string;
let answer: Answer;
const received: Received[] = [];

beforeAll(async () => {
  server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    received.push({ method: req.method ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
    res.writeHead(answer.status, answer.headers).end(answer.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

/** A data source with a `willSendRequest` of its own, as the gateway's is. */
class Source extends RemoteGraphQLDataSource<GatewayContext> {
  override willSendRequest(options: GraphQLDataSourceProcessOptions<GatewayContext>): void {
    const headers = options.request.http?.headers;
    headers?.set('x-request-id', 'r-1');
    headers?.append('x-list', 'b');
    headers?.delete('x-drop');
  }
}

function options(hints: unknown[], withIncomingHeaders: boolean): GraphQLDataSourceProcessOptions<GatewayContext> {
  const http = withIncomingHeaders
    ? { headers: new Headers({ 'apollo-federation-include-trace': 'ftv1', 'x-list': 'a', 'x-drop': '1' }) }
    : undefined;
  return {
    kind: 'incoming operation',
    request: { query: 'query Q($id: ID!) { user(id: $id) { id } }', variables: { id: 'u1' }, operationName: 'Q', http },
    incomingRequestContext: { overallCachePolicy: { restrict: (hint: unknown) => hints.push(hint) } },
    context: {},
    pathInIncomingRequest: [],
  } as unknown as GraphQLDataSourceProcessOptions<GatewayContext>;
}

async function outcome(call: (options: GraphQLDataSourceProcessOptions<GatewayContext>) => Promise<unknown>, withIncomingHeaders: boolean) {
  const hints: unknown[] = [];
  const before = received.length;
  let result: unknown;
  try {
    const { http, ...rest } = (await call(options(hints, withIncomingHeaders))) as { http?: { status: number } };
    result = { answer: rest, status: http?.status };
  } catch (error) {
    const { message, extensions } = error as { message: string; extensions?: unknown };
    result = { thrown: message, extensions: JSON.parse(JSON.stringify(extensions ?? null)) as unknown };
  }
  const sent = received.slice(before).map(({ method, headers, body }) => ({
    method,
    body,
    headers: Object.fromEntries(Object.entries(headers).filter(([name]) => !['host', 'connection', 'content-length'].includes(name))),
  }));
  return { result, sent, hints };
}

describe("a subgraph call, against Apollo's RemoteGraphQLDataSource.process()", () => {
  // Node's fetch as the fetcher: its answers carry every header, Cache-Control included.
  const fetcher = ((input: string, init: RequestInit) => fetch(input, init)) as unknown as Fetcher;

  for (const { name, answer: scripted } of ANSWERS) {
    for (const withIncomingHeaders of [false, true]) {
      it(`sends and returns the same: ${name}${withIncomingHeaders ? ', with headers from the executor' : ''}`, async () => {
        answer = scripted;
        const source = new Source({ url, fetcher: fetcher });
        const apollo = await outcome((o) => source.process(o), withIncomingHeaders);
        const ours = await outcome((o) => processOperationCall(source, o, fetcher), withIncomingHeaders);
        expect(ours).toEqual(apollo);
        expect(ours.sent).toHaveLength(1);
      });
    }
  }

  it('sends the body Apollo sends: the query first, then the rest of the request', async () => {
    answer = ANSWERS[0]!.answer;
    const source = new Source({ url, fetcher: fetcher });
    const ours = await outcome((o) => processOperationCall(source, o, fetcher), true);
    expect(ours.sent[0]?.body).toBe('{"query":"query Q($id: ID!) { user(id: $id) { id } }","variables":{"id":"u1"},"operationName":"Q"}');
    expect(ours.sent[0]?.headers).toMatchObject({
      'content-type': 'application/json',
      'x-request-id': 'r-1',
      'x-list': 'a, b',
      'apollo-federation-include-trace': 'ftv1',
    });
    expect(ours.sent[0]?.headers['x-drop']).toBeUndefined();
    expect(ours.hints).toEqual([{ maxAge: 60, scope: 'PUBLIC' }]);
  });
});
