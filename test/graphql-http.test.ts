import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERRORS } from '../gateway/src/errors.js';
import { postGraphql, startTestGateway, type TestGateway } from './helpers/gateway.js';
import { startTinySubgraph, writeTinySupergraph, type TinySubgraph } from './helpers/tiny-subgraph.js';

let subgraph: TinySubgraph;
let gw: TestGateway;

beforeAll(async () => {
  subgraph = await startTinySubgraph();
  // The supergraph names a dead URL: the gateway must use the configured override.
  const supergraphPath = writeTinySupergraph('http://127.0.0.1:1/graphql');
  gw = await startTestGateway({
    supergraph: { path: supergraphPath, watch: false },
    subgraphs: { inventory: { url: subgraph.url } },
    server: { bodyLimitBytes: 10_000 },
  });
});

afterAll(async () => {
  await gw?.close();
  await subgraph?.close();
});

async function raw(init: RequestInit & { path?: string; search?: string }) {
  const response = await fetch(`${gw.url}${init.path ?? '/graphql'}${init.search ?? ''}`, init);
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, json: () => JSON.parse(text) as Record<string, any> };
}

function codeOf(body: Record<string, any>): string | undefined {
  return body.errors?.[0]?.extensions?.code;
}

describe('GraphQL over HTTP', () => {
  it('serves a supergraph it has never seen, through the per-subgraph URL override', async () => {
    const result = await postGraphql(gw.graphqlUrl, { query: '{ warehouses { code city } }' });
    expect(result.status).toBe(200);
    expect(result.body).toEqual({
      data: {
        warehouses: [
          { code: 'AMS', city: 'Amsterdam' },
          { code: 'LIS', city: 'Lisbon' },
        ],
      },
    });
  });

  it('answers POST with application/json by default and negotiates application/graphql-response+json', async () => {
    const plain = await raw({
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"query":"{ warehouses { code } }"}',
    });
    expect(plain.headers.get('content-type')).toMatch(/^application\/json/);

    const negotiated = await raw({
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
      body: '{"query":"{ warehouses { code } }"}',
    });
    expect(negotiated.status).toBe(200);
    expect(negotiated.headers.get('content-type')).toMatch(/^application\/graphql-response\+json/);

    // With the new media type, a request that fails validation is a 4xx (GraphQL over HTTP).
    const invalid = await raw({
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
      body: '{"query":"{ nope }"}',
    });
    expect(invalid.status).toBe(400);
    expect(codeOf(invalid.json())).toBe('GRAPHQL_VALIDATION_FAILED');
  });

  it('serves GET queries that carry a preflight header, with variables from the query string', async () => {
    const search = `?query=${encodeURIComponent('query W($ms: Int!) { slow(ms: $ms) }')}&variables=${encodeURIComponent('{"ms":1}')}`;
    const ok = await raw({ method: 'GET', search, headers: { 'apollo-require-preflight': 'true' } });
    expect(ok.status).toBe(200);
    expect(ok.json()).toEqual({ data: { slow: 'waited 1ms' } });
  });

  it('blocks GET requests without a preflight header (CSRF) before any subgraph is called', async () => {
    const before = subgraph.receivedHeaders.length;
    const blocked = await raw({ method: 'GET', search: `?query=${encodeURIComponent('{ warehouses { code } }')}` });
    expect(blocked.status).toBe(400);
    expect(codeOf(blocked.json())).toBe('CSRF_PREVENTED');
    expect(subgraph.receivedHeaders.length).toBe(before);
  });

  it('refuses mutations over GET with 405 and METHOD_NOT_ALLOWED', async () => {
    const search = `?query=${encodeURIComponent('mutation { x }')}`;
    const result = await raw({ method: 'GET', search, headers: { 'apollo-require-preflight': 'true' } });
    expect(result.status).toBe(405);
    expect(codeOf(result.json())).toBe('METHOD_NOT_ALLOWED');
  });
});

describe('bad requests get a registered 4xx code and never crash the gateway', () => {
  const cases: { name: string; init: RequestInit & { search?: string; path?: string }; status: number; code: string }[] = [
    {
      name: 'malformed JSON',
      init: { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query": ' },
      status: 400,
      code: 'MALFORMED_JSON',
    },
    {
      name: 'empty JSON body',
      init: { method: 'POST', headers: { 'content-type': 'application/json' }, body: '' },
      status: 400,
      code: 'MALFORMED_JSON',
    },
    {
      name: 'missing query',
      init: { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"variables":{}}' },
      status: 400,
      code: 'MISSING_QUERY',
    },
    {
      name: 'empty query',
      init: { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":""}' },
      status: 400,
      code: 'MISSING_QUERY',
    },
    {
      name: 'GET without query',
      init: { method: 'GET', headers: { 'apollo-require-preflight': '1' } },
      status: 400,
      code: 'MISSING_QUERY',
    },
    {
      name: 'query that is not a string',
      init: { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":42}' },
      status: 400,
      code: 'BAD_REQUEST',
    },
    {
      name: 'variables that are not an object',
      init: {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"query":"{ warehouses { code } }","variables":[1]}',
      },
      status: 400,
      code: 'BAD_REQUEST',
    },
    {
      name: 'body that is a JSON string',
      init: { method: 'POST', headers: { 'content-type': 'application/json' }, body: '"{ warehouses { code } }"' },
      status: 400,
      code: 'BAD_REQUEST',
    },
    {
      name: 'batched array body',
      init: { method: 'POST', headers: { 'content-type': 'application/json' }, body: '[{"query":"{ warehouses { code } }"}]' },
      status: 400,
      code: 'BATCHING_NOT_ENABLED',
    },
    {
      name: 'text/plain body (wrong content type, also a CSRF vector)',
      init: { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{"query":"{ warehouses { code } }"}' },
      status: 415,
      code: 'UNSUPPORTED_MEDIA_TYPE',
    },
    {
      name: 'form-encoded body',
      init: { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'query=%7B%7D' },
      status: 415,
      code: 'UNSUPPORTED_MEDIA_TYPE',
    },
    {
      name: 'unparseable document',
      init: { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ warehouses { "}' },
      status: 400,
      code: 'GRAPHQL_PARSE_FAILED',
    },
    {
      name: 'document invalid against the schema',
      init: { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ nope }"}' },
      status: 400,
      code: 'GRAPHQL_VALIDATION_FAILED',
    },
    {
      name: 'unknown operation name',
      init: {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"query":"query A { warehouses { code } }","operationName":"B"}',
      },
      status: 400,
      code: 'OPERATION_RESOLUTION_FAILURE',
    },
    {
      name: 'several operations and no name',
      init: {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"query":"query A { warehouses { code } } query B { warehouses { city } }"}',
      },
      status: 400,
      code: 'OPERATION_RESOLUTION_FAILURE',
    },
    {
      name: 'variable of the wrong type',
      init: {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"query":"query W($ms: Int!) { slow(ms: $ms) }","variables":{"ms":"soon"}}',
      },
      status: 400,
      code: 'BAD_USER_INPUT',
    },
    {
      name: 'Accept that allows no JSON type',
      init: {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/csv' },
        body: '{"query":"{ warehouses { code } }"}',
      },
      status: 406,
      code: 'NOT_ACCEPTABLE',
    },
    {
      name: 'body over the size limit',
      init: {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: `{ warehouses { code } } #${'x'.repeat(20_000)}` }),
      },
      status: 413,
      code: 'PAYLOAD_TOO_LARGE',
    },
    {
      name: 'PUT on the GraphQL path',
      init: { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{}' },
      status: 405,
      code: 'METHOD_NOT_ALLOWED',
    },
  ];

  for (const { name, init, status, code } of cases) {
    it(`${name} → ${status} ${code}`, async () => {
      const result = await raw(init);
      expect(result.status).toBe(status);
      const body = result.json();
      expect(codeOf(body)).toBe(code);
      expect(ERRORS[code as keyof typeof ERRORS]).toBeDefined();
      expect(result.text).not.toMatch(/\bat .+\.(ts|js):\d+/); // no stack trace
      expect(result.headers.get('x-request-id')).toBeTruthy();
    });
  }

  it('says which methods are allowed on a 405', async () => {
    const result = await raw({ method: 'DELETE' });
    expect(result.headers.get('allow')).toBe('GET, POST');
  });

  it('answers unknown paths with a REST-shaped 404 carrying the request id', async () => {
    const result = await raw({ method: 'GET', path: '/no/such/route', headers: { 'x-request-id': 'req-404' } });
    expect(result.status).toBe(404);
    expect(result.json()).toEqual({ error: 'NOT_FOUND', message: ERRORS.NOT_FOUND.message, request_id: 'req-404' });
  });

  it('is still healthy and serving after all of the above', async () => {
    expect((await raw({ method: 'GET', path: '/health' })).status).toBe(200);
    const result = await postGraphql(gw.graphqlUrl, { query: '{ warehouses { code } }' });
    expect(result.body.data).toEqual({ warehouses: [{ code: 'AMS' }, { code: 'LIS' }] });
  });
});

describe('errors from subgraphs', () => {
  it('never carry a subgraph stack trace to the client', async () => {
    const sdl = 'extend schema @link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@key"])\ntype Query { boom: String }';
    const failing = await startTinySubgraph({
      sdl,
      stacktraces: true,
      resolvers: {
        Query: {
          boom: () => {
            throw new Error('database password rejected');
          },
        },
      },
    });
    const direct = await postGraphql(failing.url, { query: '{ boom }' });
    expect(direct.body.errors?.[0]?.extensions?.stacktrace).toBeDefined(); // the subgraph does send one
    const gw = await startTestGateway({ supergraph: { path: writeTinySupergraph(failing.url, sdl), watch: false } });
    try {
      const result = await postGraphql(gw.graphqlUrl, { query: '{ boom }' });
      expect(result.body.data).toEqual({ boom: null });
      expect(result.body.errors).toHaveLength(1);
      expect(result.body.errors?.[0]?.extensions?.stacktrace).toBeUndefined();
      expect(JSON.stringify(result.body)).not.toMatch(/\bat .+\.(ts|js):\d+/);
    } finally {
      await gw.close();
      await failing.close();
    }
  });
});

describe('request ids and logs', () => {
  it('accepts a client request id, returns it, forwards it to the subgraph and logs it', async () => {
    const result = await postGraphql(
      gw.graphqlUrl,
      { query: 'query Stock { warehouses { code } }', operationName: 'Stock' },
      { 'x-request-id': 'client-req-42' },
    );
    expect(result.status).toBe(200);
    expect(result.headers.get('x-request-id')).toBe('client-req-42');
    expect(subgraph.receivedHeaders.at(-1)?.['x-request-id']).toBe('client-req-42');

    const lines = gw.logs.completed('client-req-42');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ operationName: 'Stock', operationType: 'query', status: 200, outcome: 'success', path: '/graphql' });
    expect(typeof lines[0]?.durationMs).toBe('number');
    // That credentials never reach the log is proven with real tokens and keys in test/auth-*.test.ts.
  });

  it('generates a request id when the client sends none, and replaces one that is unsafe to log', async () => {
    const generated = await postGraphql(gw.graphqlUrl, { query: '{ warehouses { code } }' });
    const id = generated.headers.get('x-request-id');
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(subgraph.receivedHeaders.at(-1)?.['x-request-id']).toBe(id);

    const unsafe = await postGraphql(
      gw.graphqlUrl,
      { query: '{ warehouses { code } }' },
      { 'x-request-id': `evil id "}{${'x'.repeat(200)}` },
    );
    expect(unsafe.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('logs one line per request, with the error code of a rejected one', async () => {
    const response = await fetch(gw.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'bad-json-1' },
      body: '{',
    });
    expect(response.status).toBe(400);
    await new Promise((resolve) => setImmediate(resolve));
    const lines = gw.logs.completed('bad-json-1');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ status: 400, outcome: 'client_error', errorCodes: ['MALFORMED_JSON'] });
  });
});
