import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEV_ISSUER } from '../gateway/src/auth/dev-secret.js';
import { loadConfig, productionSettings } from '../gateway/src/config/index.js';
import { ERRORS } from '../gateway/src/errors.js';
import { MASKED_SUBGRAPH_MESSAGE } from '../gateway/src/graphql/subgraph-error-masking-plugin.js';
import { devBearer } from './helpers/auth.js';
import { postGraphql, startTestGateway, type TestGateway } from './helpers/gateway.js';
import { startTinySubgraph, writeTinySupergraph, type TinySubgraph } from './helpers/tiny-subgraph.js';

const INTROSPECTION = '{ __schema { queryType { name } } }';

describe('request limits: tokens and directives', () => {
  let subgraph: TinySubgraph;
  let gw: TestGateway;

  beforeAll(async () => {
    subgraph = await startTinySubgraph();
    gw = await startTestGateway({
      supergraph: { path: writeTinySupergraph(subgraph.url), watch: false },
      graphql: { maxTokens: 50, maxDirectives: 3 },
    });
  });

  afterAll(async () => {
    await gw?.close();
    await subgraph?.close();
  });

  it('stops parsing a document with more tokens than graphql.maxTokens: 400 TOO_MANY_TOKENS, no subgraph call', async () => {
    const calls = subgraph.receivedHeaders.length;
    const query = `{ ${Array.from({ length: 60 }, (_, i) => `a${i}: warehouses { code }`).join(' ')} }`;
    const result = await postGraphql(gw.graphqlUrl, { query });
    expect(result.status).toBe(ERRORS.TOO_MANY_TOKENS.status);
    expect(result.body.errors).toHaveLength(1);
    expect(result.body.errors?.[0]).toMatchObject({ message: ERRORS.TOO_MANY_TOKENS.message, extensions: { code: 'TOO_MANY_TOKENS' } });
    expect(result.body.data).toBeUndefined();
    expect(subgraph.receivedHeaders.length).toBe(calls);
  });

  it('still answers an ordinary syntax error as GRAPHQL_PARSE_FAILED, and a document under the limit normally', async () => {
    const broken = await postGraphql(gw.graphqlUrl, { query: '{ warehouses { code ' });
    expect(broken.status).toBe(400);
    expect(broken.body.errors?.[0]?.extensions?.code).toBe('GRAPHQL_PARSE_FAILED');

    const ok = await postGraphql(gw.graphqlUrl, { query: '{ warehouses { code } }' });
    expect(ok.status).toBe(200);
    expect(ok.body.errors).toBeUndefined();
    expect(ok.body.data).toEqual({ warehouses: [{ code: 'AMS' }, { code: 'LIS' }] });
  });

  it('refuses more directives than graphql.maxDirectives: 400 TOO_MANY_DIRECTIVES, no subgraph call', async () => {
    const calls = subgraph.receivedHeaders.length;
    const query = '{ warehouses { code @include(if: true) @skip(if: false) city @include(if: true) @skip(if: false) } }';
    const result = await postGraphql(gw.graphqlUrl, { query });
    expect(result.status).toBe(ERRORS.TOO_MANY_DIRECTIVES.status);
    expect(result.body.errors).toHaveLength(1);
    expect(result.body.errors?.[0]?.extensions?.code).toBe('TOO_MANY_DIRECTIVES');
    expect(subgraph.receivedHeaders.length).toBe(calls);
    expect(gw.logs.completed().at(-1)).toMatchObject({ status: 400 });

    const atLimit = await postGraphql(gw.graphqlUrl, {
      query: '{ warehouses { code @include(if: true) @skip(if: false) city @include(if: true) } }',
    });
    expect(atLimit.status).toBe(200);
    expect(atLimit.body.data).toEqual({
      warehouses: [
        { code: 'AMS', city: 'Amsterdam' },
        { code: 'LIS', city: 'Lisbon' },
      ],
    });
  });

  it("uses GraphQL Armor's defaults: 1000 tokens and 50 directives", () => {
    const config = loadConfig({ env: {} });
    expect(config.graphql.maxTokens).toBe(1000);
    expect(config.graphql.maxDirectives).toBe(50);
  });
});

describe('production mode', () => {
  it('defaults: introspection off, suggestions hidden and subgraph errors masked only when NODE_ENV=production', () => {
    expect(productionSettings(loadConfig({ env: {} }).graphql)).toEqual({
      introspection: true,
      hideSuggestions: false,
      maskSubgraphErrors: false,
    });
    expect(productionSettings(loadConfig({ env: { NODE_ENV: 'production' } }).graphql)).toEqual({
      introspection: false,
      hideSuggestions: true,
      maskSubgraphErrors: true,
    });
    const chosen = loadConfig({
      env: { NODE_ENV: 'production' },
      overrides: { graphql: { introspection: { scopes: ['schema:read'] }, hideSuggestions: false } },
    }).graphql;
    expect(productionSettings(chosen)).toEqual({
      introspection: { tiers: [], scopes: ['schema:read'] },
      hideSuggestions: false,
      maskSubgraphErrors: true,
    });
  });

  describe('introspection allowed per scope or tier', () => {
    let subgraph: TinySubgraph;
    let gw: TestGateway;

    beforeAll(async () => {
      subgraph = await startTinySubgraph();
      gw = await startTestGateway({
        supergraph: { path: writeTinySupergraph(subgraph.url), watch: false },
        auth: { jwt: { issuers: [DEV_ISSUER] } },
        graphql: { production: true, introspection: { scopes: ['schema:read'] } },
      });
    });

    afterAll(async () => {
      await gw?.close();
      await subgraph?.close();
    });

    it('refuses introspection to a caller without the scope with 403 INTROSPECTION_DISABLED, anonymous or signed in', async () => {
      const calls = subgraph.receivedHeaders.length;
      for (const headers of [{}, await devBearer('user-1', ['orders:read'])]) {
        const result = await postGraphql(gw.graphqlUrl, { query: INTROSPECTION }, headers);
        expect(result.status).toBe(403);
        expect(result.body.errors).toEqual([
          { message: ERRORS.INTROSPECTION_DISABLED.message, extensions: { code: 'INTROSPECTION_DISABLED' } },
        ]);
        expect(result.body.data).toBeUndefined();
      }
      // Hidden in a fragment, next to an ordinary field: still refused, and nothing ran.
      const hidden = await postGraphql(gw.graphqlUrl, {
        query: 'query Q { warehouses { code } ...F } fragment F on Query { __type(name: "Warehouse") { name } }',
      });
      expect(hidden.status).toBe(403);
      expect(hidden.body.errors?.[0]?.extensions?.code).toBe('INTROSPECTION_DISABLED');
      expect(subgraph.receivedHeaders.length).toBe(calls);
    });

    it('allows it to a caller with the scope, and __typename to everyone', async () => {
      const allowed = await postGraphql(gw.graphqlUrl, { query: INTROSPECTION }, await devBearer('admin', ['schema:read']));
      expect(allowed.status).toBe(200);
      expect(allowed.body.data).toEqual({ __schema: { queryType: { name: 'Query' } } });

      const typename = await postGraphql(gw.graphqlUrl, { query: '{ __typename warehouses { __typename code } }' });
      expect(typename.status).toBe(200);
      expect(typename.body.data).toMatchObject({ __typename: 'Query' });
    });

    it('hides "Did you mean" suggestions in production mode', async () => {
      const result = await postGraphql(gw.graphqlUrl, { query: '{ warehouse { code } }' });
      expect(result.status).toBe(400);
      expect(result.body.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
      expect(result.body.errors?.[0]?.message).toContain('Cannot query field "warehouse"');
      expect(result.body.errors?.[0]?.message).not.toMatch(/Did you mean/);
    });
  });

  it('allows introspection per tier, and shows suggestions outside production mode', async () => {
    const subgraph = await startTinySubgraph();
    const gw = await startTestGateway({
      supergraph: { path: writeTinySupergraph(subgraph.url), watch: false },
      graphql: { introspection: { tiers: ['anonymous'] } },
    });
    try {
      const allowed = await postGraphql(gw.graphqlUrl, { query: INTROSPECTION });
      expect(allowed.status).toBe(200);
      expect(allowed.body.data).toEqual({ __schema: { queryType: { name: 'Query' } } });
      const suggested = await postGraphql(gw.graphqlUrl, { query: '{ warehouse { code } }' });
      expect(suggested.body.errors?.[0]?.message).toMatch(/Did you mean "warehouses"/);
    } finally {
      await gw.close();
      await subgraph.close();
    }
  });

  it("masks a subgraph's error message (code and subgraph name kept) and logs the original with the request id", async () => {
    const sdl =
      'extend schema @link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@key"])\ntype Query { boom: String, fine: String }';
    const failing = await startTinySubgraph({
      sdl,
      stacktraces: true,
      resolvers: {
        Query: {
          boom: () => {
            throw Object.assign(new Error('database password rejected by db-7.internal'), { extensions: { code: 'DB_DOWN' } });
          },
          fine: () => 'ok',
        },
      },
    });
    const gw = await startTestGateway({
      supergraph: { path: writeTinySupergraph(failing.url, sdl), watch: false },
      graphql: { maskSubgraphErrors: true },
    });
    try {
      const result = await postGraphql(gw.graphqlUrl, { query: '{ boom fine }' }, { 'x-request-id': 'mask-req-1' });
      expect(result.status).toBe(200);
      expect(result.body.data).toEqual({ boom: null, fine: 'ok' });
      expect(result.body.errors).toHaveLength(1);
      const error = result.body.errors![0]!;
      expect(error.message).toBe(MASKED_SUBGRAPH_MESSAGE);
      expect(error.extensions).toMatchObject({ code: 'DB_DOWN', serviceName: 'inventory' });
      expect(JSON.stringify(result.body)).not.toMatch(/password|db-7|127\.0\.0\.1|stacktrace/);

      const logged = gw.logs.find((l) => l.msg === 'subgraph error masked' && l.reqId === 'mask-req-1');
      expect(logged).toHaveLength(1);
      expect(logged[0]).toMatchObject({
        subgraph: 'inventory',
        code: 'DB_DOWN',
        subgraphMessage: 'database password rejected by db-7.internal',
      });
      expect(gw.logs.completed('mask-req-1')[0]).toMatchObject({ status: 200 });
    } finally {
      await gw.close();
      await failing.close();
    }
  });
});
