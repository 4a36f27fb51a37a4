import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Redis } from 'ioredis';
import { parse } from 'graphql';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CostModelSource } from '../gateway/src/cost/model-source.js';
import { DEV_ISSUER, signDevToken } from '../gateway/src/auth/dev-secret.js';
import type { GatewayConfigInput } from '../gateway/src/config/index.js';
import { readManifest, type TrustedDocument } from '../gateway/src/persisted/manifest.js';
import { manifestOf } from '../gateway/src/persisted/write-manifest.js';
import { checkDocuments } from '../gateway/src/persisted/trusted-documents-plugin.js';
import { apiSchemaFromSupergraph } from '../gateway/src/supergraph/api-schema.js';
import {
  TEST_REDIS_URL,
  deleteKeys,
  startCostGateway,
  startCountedSubgraphs,
  testKeyPrefix,
  type CountedSubgraphs,
} from './helpers/cost-stack.js';
import { startTestGateway, type TestGateway } from './helpers/gateway.js';
import { freePort } from './helpers/ports.js';
import { DEMO_SUPERGRAPH } from './helpers/subgraphs.js';
import { TINY_SDL, TINY_SDL_V2, composeTiny, startTinySubgraph, writeTinySupergraph } from './helpers/tiny-subgraph.js';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

interface Answer {
  data?: Record<string, unknown> | null;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
  extensions?: { cost?: { requestedQueryCost: number } };
}

async function post(url: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Answer & Answer[] };
}

async function get(url: string, params: Record<string, unknown>) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) search.set(name, typeof value === 'string' ? value : JSON.stringify(value));
  const response = await fetch(`${url}?${search}`, { headers: { 'apollo-require-preflight': 'true' } });
  return { status: response.status, body: (await response.json()) as Answer };
}

const apq = (query: string) => ({ persistedQuery: { version: 1, sha256Hash: sha256(query) } });
const code = (answer: Answer) => answer.errors?.[0]?.extensions?.code;
const topProducts = (answer: Answer) => (answer.data?.topProducts as unknown[] | undefined)?.length;

let counted: CountedSubgraphs;
const tmp = mkdtempSync(join(tmpdir(), 'gw-persisted-'));
beforeAll(async () => {
  counted = await startCountedSubgraphs();
});
afterAll(async () => {
  await counted?.close();
  rmSync(tmp, { recursive: true, force: true });
});

/** A gateway on the demo stack (through the counting proxies), not waiting for Redis. */
function startGateway(overrides: GatewayConfigInput): Promise<TestGateway> {
  return startTestGateway({
    supergraph: { path: DEMO_SUPERGRAPH, watch: false },
    auth: { jwt: { issuers: [DEV_ISSUER] } },
    subgraphs: {
      users: { url: counted.proxies.users.url },
      orders: { url: counted.proxies.orders.url },
      products: { url: counted.proxies.products.url },
    },
    ...overrides,
  });
}

function writeManifest(name: string, manifest: unknown): string {
  const path = join(tmp, name);
  writeFileSync(path, JSON.stringify(manifest));
  return path;
}

describe('automatic persisted queries, in memory', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway({ graphql: { apq: { cacheMaxBytes: 1_200 } } });
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('follows the protocol: unknown hash → PERSISTED_QUERY_NOT_FOUND, register with the query, then the hash alone works by POST and GET', async () => {
    const query = '{ topProducts(first: 2) { upc } }';
    const miss = await post(gw.graphqlUrl, { extensions: apq(query) });
    expect(miss.status).toBe(200);
    expect(code(miss.body)).toBe('PERSISTED_QUERY_NOT_FOUND');

    const registered = await post(gw.graphqlUrl, { query, extensions: apq(query) });
    expect(registered.status).toBe(200);
    expect(topProducts(registered.body)).toBe(2);

    const hit = await post(gw.graphqlUrl, { extensions: apq(query) });
    expect(hit.body.errors).toBeUndefined();
    expect(topProducts(hit.body)).toBe(2);
    const byGet = await get(gw.graphqlUrl, { extensions: apq(query) });
    expect(byGet.status).toBe(200);
    expect(topProducts(byGet.body)).toBe(2);

    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    expect(metrics).toMatch(/gateway_persisted_queries_total\{kind="apq",result="hit"\} 2/);
    expect(metrics).toMatch(/gateway_persisted_queries_total\{kind="apq",result="miss"\} 1/);
  });

  it('refuses a hash that does not match the query (400), a bad version or hash (400), and never registers an invalid document', async () => {
    const query = '{ topProducts(first: 1) { upc } }';
    const mismatch = await post(gw.graphqlUrl, { query, extensions: apq('{ other }') });
    expect(mismatch.status).toBe(400);
    expect(code(mismatch.body)).toBe('PERSISTED_QUERY_HASH_MISMATCH');
    const version = await post(gw.graphqlUrl, { extensions: { persistedQuery: { version: 2, sha256Hash: sha256(query) } } });
    expect(version.status).toBe(400);
    expect(code(version.body)).toBe('BAD_REQUEST');
    const badHash = await post(gw.graphqlUrl, { extensions: { persistedQuery: { version: 1, sha256Hash: 'not-a-hash' } } });
    expect(badHash.status).toBe(400);
    expect(code(badHash.body)).toBe('BAD_REQUEST');

    const badId = await post(gw.graphqlUrl, { documentId: 'not-an-id' });
    expect(badId.status).toBe(400);
    expect(code(badId.body)).toBe('BAD_REQUEST');
    const unknownId = await post(gw.graphqlUrl, { documentId: `sha256:${sha256(query)}` });
    expect(code(unknownId.body)).toBe('PERSISTED_QUERY_NOT_FOUND');
    const badJson = await fetch(`${gw.graphqlUrl}?extensions=${encodeURIComponent('{"persistedQuery": {')}`, {
      headers: { 'apollo-require-preflight': 'true' },
    });
    expect(badJson.status).toBe(400);
    expect(((await badJson.json()) as Answer).errors?.[0]?.extensions?.code).toBe('BAD_REQUEST');

    const invalid = '{ noSuchField }';
    const rejected = await post(gw.graphqlUrl, { query: invalid, extensions: apq(invalid) });
    expect(rejected.status).toBe(400);
    expect(code(rejected.body)).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(code((await post(gw.graphqlUrl, { extensions: apq(invalid) })).body)).toBe('PERSISTED_QUERY_NOT_FOUND');
  });

  it('keeps the in-memory store within graphql.apq.cacheMaxBytes (least recently used out)', async () => {
    const queries = Array.from({ length: 6 }, (_, i) => `{ topProducts(first: ${i + 1}) { upc name } }`);
    for (const query of queries) expect((await post(gw.graphqlUrl, { query, extensions: apq(query) })).status).toBe(200);
    // Each entry counts (64 + ~40) × 2 bytes: 1200 bytes hold five, so the first is gone.
    expect(code((await post(gw.graphqlUrl, { extensions: apq(queries[0] as string) })).body)).toBe('PERSISTED_QUERY_NOT_FOUND');
    expect(topProducts((await post(gw.graphqlUrl, { extensions: apq(queries[5] as string) })).body)).toBe(6);
  });
});

describe('automatic persisted queries turned off', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway({ graphql: { apq: { enabled: false } } });
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('answers a hash alone with 400 PERSISTED_QUERY_NOT_SUPPORTED', async () => {
    const result = await post(gw.graphqlUrl, { extensions: apq('{ topProducts { upc } }') });
    expect(result.status).toBe(400);
    expect(code(result.body)).toBe('PERSISTED_QUERY_NOT_SUPPORTED');
  });
});

describe('automatic persisted queries shared through Redis', () => {
  const prefix = testKeyPrefix('apq');
  const gateways: TestGateway[] = [];
  afterAll(async () => {
    await Promise.all(gateways.map((gw) => gw.close()));
    await deleteKeys(TEST_REDIS_URL, prefix);
  });

  it('serves on one instance a document registered on another, from Redis with the configured prefix and TTL', async () => {
    const config = { redis: { url: TEST_REDIS_URL, keyPrefix: prefix }, graphql: { apq: { ttlSeconds: 600, storeTimeoutMs: 2_000 } } };
    gateways.push(await startCostGateway(counted, config), await startCostGateway(counted, config));
    const [a, b] = gateways as [TestGateway, TestGateway];
    const query = '{ topProducts(first: 3) { upc name } }';
    expect(code((await post(b.graphqlUrl, { extensions: apq(query) })).body)).toBe('PERSISTED_QUERY_NOT_FOUND');
    expect(topProducts((await post(a.graphqlUrl, { query, extensions: apq(query) })).body)).toBe(3);
    const onB = await post(b.graphqlUrl, { extensions: apq(query) });
    expect(onB.body.errors).toBeUndefined();
    expect(topProducts(onB.body)).toBe(3);

    const redis = new Redis(TEST_REDIS_URL);
    try {
      expect(await redis.get(`${prefix}apq:${sha256(query)}`)).toBe(query);
      const ttl = await redis.ttl(`${prefix}apq:${sha256(query)}`);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(600);
    } finally {
      redis.disconnect();
    }
  });

  it('answers a miss, never an error, when Redis is unreachable, and keeps registrations in memory', async () => {
    const port = await freePort();
    const gw = await startGateway({ redis: { url: `redis://127.0.0.1:${port}`, connectTimeoutMs: 200 }, rateLimit: { enabled: false } });
    gateways.push(gw);
    const query = '{ topProducts(first: 4) { upc } }';
    const miss = await post(gw.graphqlUrl, { extensions: apq(query) });
    expect(miss.status).toBe(200);
    expect(code(miss.body)).toBe('PERSISTED_QUERY_NOT_FOUND');
    expect(topProducts((await post(gw.graphqlUrl, { query, extensions: apq(query) })).body)).toBe(4);
    expect(topProducts((await post(gw.graphqlUrl, { extensions: apq(query) })).body)).toBe(4);
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    expect(metrics).toMatch(/gateway_persisted_queries_total\{kind="apq",result="store_error"\} [1-9]/);
  });
});

describe('trusted documents', () => {
  const manifest = manifestOf([
    {
      name: 'products.graphql',
      text: `query TopProducts($first: Int = 5) { topProducts(first: $first) { ...Card } }
             fragment Card on Product { upc name inStock }
             query OneProduct { product(upc: "upc-0001") { upc name } }`,
    },
  ]);
  const [TOP, ONE] = manifest.operations as [TrustedDocument, TrustedDocument, ...TrustedDocument[]];
  const UNLISTED = '{ topProducts(first: 1) { upc } }';

  describe('allow-list mode', () => {
    let gw: TestGateway;
    let strict: TestGateway;
    beforeAll(async () => {
      const path = writeManifest('allow.json', manifest);
      gw = await startGateway({
        graphql: { batching: { enabled: true }, trustedDocuments: { mode: 'allow-list', manifest: path, bypass: { tiers: ['internal'] } } },
        rateLimit: { extensions: true },
      });
      strict = await startGateway({ graphql: { trustedDocuments: { mode: 'allow-list', manifest: path, requireId: true } } });
    });
    afterAll(async () => {
      await gw?.close();
      await strict?.close();
    });

    it('runs a listed document by documentId, by persisted-query hash, by its full text and by GET', async () => {
      for (const body of [
        { documentId: `sha256:${TOP.id}` },
        { documentId: TOP.id },
        { extensions: { persistedQuery: { version: 1, sha256Hash: TOP.id } } },
        { query: TOP.body },
      ]) {
        const result = await post(gw.graphqlUrl, body);
        expect(result.status, JSON.stringify(body)).toBe(200);
        expect(topProducts(result.body)).toBe(5);
      }
      const byGet = await get(gw.graphqlUrl, { documentId: `sha256:${ONE.id}` });
      expect(byGet.status).toBe(200);
      expect(byGet.body.data).toEqual({ product: { upc: 'upc-0001', name: expect.any(String) } });
    });

    it('refuses anything else before parsing with 400 PERSISTED_QUERY_NOT_IN_LIST, calling no subgraph, and takes no APQ registration', async () => {
      const before = counted.total();
      for (const body of [
        { query: UNLISTED },
        { query: '{ this is not GraphQL' },
        { query: UNLISTED, extensions: apq(UNLISTED) },
        { extensions: apq(UNLISTED) },
        { documentId: sha256(UNLISTED) },
      ]) {
        const result = await post(gw.graphqlUrl, body);
        expect(result.status, JSON.stringify(body)).toBe(400);
        expect(code(result.body), JSON.stringify(body)).toBe('PERSISTED_QUERY_NOT_IN_LIST');
      }
      expect(counted.total()).toBe(before);
      const metrics = await (await fetch(`${gw.url}/metrics`)).text();
      expect(metrics).toMatch(/gateway_persisted_queries_total\{kind="trusted",result="refused"\} 5/);
    });

    it('lets callers of a bypass tier send any document', async () => {
      const token = await signDevToken({ sub: 'ops-1', tier: 'internal' });
      const result = await post(gw.graphqlUrl, { query: UNLISTED }, { authorization: `Bearer ${token}` });
      expect(result.status).toBe(200);
      expect(topProducts(result.body)).toBe(1);
      const other = await post(
        gw.graphqlUrl,
        { query: UNLISTED },
        { authorization: `Bearer ${await signDevToken({ sub: 'u', tier: 'pro' })}` },
      );
      expect(code(other.body)).toBe('PERSISTED_QUERY_NOT_IN_LIST');
    });

    it('answers an unlisted document of a batch in its own slot', async () => {
      const result = await post(gw.graphqlUrl, [{ documentId: ONE.id }, { query: UNLISTED }]);
      expect(result.status).toBe(200);
      expect(result.body[0]?.data?.product).toMatchObject({ upc: 'upc-0001' });
      expect(code(result.body[1] as Answer)).toBe('PERSISTED_QUERY_NOT_IN_LIST');
    });

    it('uses the precomputed cost of a listed document, and recomputes it when a variable changes it', async () => {
      const line = gw.logs.find((l) => l.msg === 'trusted documents checked against the schema')[0];
      expect(line).toMatchObject({ documents: 2, invalid: 0, precomputed: 2 });
      // TopProducts: `first` defaults to 5 → 5 × (1 + 2) = 15; with first: 2 → 6.
      const byDefault = await post(gw.graphqlUrl, { documentId: TOP.id });
      expect(byDefault.body.extensions?.cost?.requestedQueryCost).toBe(15);
      const withVariable = await post(gw.graphqlUrl, { documentId: TOP.id, variables: { first: 2 } });
      expect(withVariable.body.extensions?.cost?.requestedQueryCost).toBe(6);
      expect(topProducts(withVariable.body)).toBe(2);
    });

    it('with requireId, refuses the full text of a listed document (400 PERSISTED_QUERY_ID_REQUIRED) and runs its id', async () => {
      const byText = await post(strict.graphqlUrl, { query: ONE.body });
      expect(byText.status).toBe(400);
      expect(code(byText.body)).toBe('PERSISTED_QUERY_ID_REQUIRED');
      const byId = await post(strict.graphqlUrl, { documentId: ONE.id });
      expect(byId.body.data?.product).toMatchObject({ upc: 'upc-0001' });
    });
  });

  describe('log-unknown mode', () => {
    let gw: TestGateway;
    beforeAll(async () => {
      gw = await startGateway({ graphql: { trustedDocuments: { mode: 'log-unknown', manifest: writeManifest('log.json', manifest) } } });
    });
    afterAll(async () => {
      await gw?.close();
    });

    it('runs an unlisted document, logs it once and counts every use', async () => {
      for (let i = 0; i < 2; i++) expect(topProducts((await post(gw.graphqlUrl, { query: UNLISTED, operationName: null })).body)).toBe(1);
      expect(topProducts((await post(gw.graphqlUrl, { documentId: TOP.id })).body)).toBe(5);
      const warnings = gw.logs.find((l) => l.msg?.startsWith('document not in the trusted documents list') === true);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatchObject({ documentId: sha256(UNLISTED) });
      const metrics = await (await fetch(`${gw.url}/metrics`)).text();
      expect(metrics).toMatch(/gateway_persisted_queries_total\{kind="trusted",result="unknown"\} 2/);
      expect(metrics).toMatch(/gateway_persisted_queries_total\{kind="trusted",result="hit"\} 1/);
    });
  });

  describe('an invalid manifest', () => {
    it('stops start-up when the file is not JSON or an id is not the SHA-256 of its body', async () => {
      const badJson = join(tmp, 'bad.json');
      writeFileSync(badJson, '{ "format": ');
      await expect(startGateway({ graphql: { trustedDocuments: { mode: 'allow-list', manifest: badJson } } })).rejects.toThrow(
        /not valid JSON/,
      );
      const wrongId = writeManifest('wrong-id.json', { ...manifest, operations: [{ ...TOP, id: sha256('something else') }] });
      await expect(startGateway({ graphql: { trustedDocuments: { mode: 'allow-list', manifest: wrongId } } })).rejects.toThrow(
        /operations\[0\] \(TopProducts\): id [0-9a-f]{64} is not the SHA-256 of its body/,
      );
    });

    it('starts, with a warning and a metric, when a listed document does not validate against the schema', async () => {
      const body = 'query Gone { noSuchField }';
      const path = writeManifest('stale.json', {
        ...manifest,
        operations: [...manifest.operations, { id: sha256(body), name: 'Gone', type: 'query', body }],
      });
      const gw = await startGateway({ graphql: { trustedDocuments: { mode: 'allow-list', manifest: path } } });
      try {
        const warning = gw.logs.find((l) => l.msg === 'trusted document is not valid against the loaded schema');
        expect(warning[0]).toMatchObject({ documentId: sha256(body), name: 'Gone' });
        const metrics = await (await fetch(`${gw.url}/metrics`)).text();
        expect(metrics).toMatch(/gateway_trusted_documents\{state="invalid"\} 1/);
        expect(metrics).toMatch(/gateway_trusted_documents\{state="valid"\} 2/);
        const result = await post(gw.graphqlUrl, { documentId: sha256(body) });
        expect(result.status).toBe(400);
        expect(code(result.body)).toBe('GRAPHQL_VALIDATION_FAILED');
      } finally {
        await gw.close();
      }
    });
  });
});

describe('precomputed costs', () => {
  it("puts each listed document's estimate in the cost cache under the key the cost plugin asks for (query hash, with or without the operation name)", () => {
    const sdl = readFileSync(DEMO_SUPERGRAPH, 'utf8');
    const schema = apiSchemaFromSupergraph(sdl);
    const costs = new CostModelSource({
      overridesPath: join(tmp, 'none.yaml'),
      watch: false,
      pollIntervalMs: 1_000,
      cacheSize: 100,
      logger: pino({ level: 'silent' }),
    });
    costs.load(schema, sdl);
    const listed = manifestOf([{ name: 'top.graphql', text: 'query Top($first: Int = 5) { topProducts(first: $first) { upc inStock } }' }]);
    const report = checkDocuments({ path: 'top.json', documents: new Map(listed.operations.map((op) => [op.id, op])) }, schema, costs, 10);
    expect(report).toMatchObject({ valid: 1, precomputed: 1 });
    const analyzer = costs.analyzer(schema);
    const op = listed.operations[0] as TrustedDocument;
    const document = parse(op.body);
    const computed = () => {
      throw new Error('not precomputed');
    };
    // The cost plugin's call for this document with no variables, named or not: a cache hit.
    expect(analyzer?.cache.get(op.id, document, 'Top', {}, computed).cost).toBe(15);
    expect(analyzer?.cache.get(op.id, document, undefined, undefined, computed).cost).toBe(15);
    // A variable that changes the cost is a different key: estimated on first use.
    expect(() => analyzer?.cache.get(op.id, document, 'Top', { first: 2 }, computed)).toThrow('not precomputed');
  });
});

describe('npm run manifest and the example manifest', () => {
  it('writes one entry per operation with the fragments it uses, each id the SHA-256 of its body', () => {
    const written = manifestOf([
      { name: 'a.graphql', text: 'query A { ...F }\nquery B { __typename }\nfragment F on Query { __typename }' },
    ]);
    expect(written.operations.map((op) => [op.name, op.type])).toEqual([
      ['A', 'query'],
      ['B', 'query'],
    ]);
    expect(written.operations[0]?.body).toContain('fragment F on Query');
    expect(written.operations[1]?.body).not.toContain('fragment');
    for (const op of written.operations) expect(op.id).toBe(sha256(op.body));
    expect(() => manifestOf([{ name: 'b.graphql', text: '{ __typename }' }])).toThrow(/b.graphql: every operation needs a name/);
  });

  it('keeps examples/trusted-documents.json in step with examples/trusted-documents/*.graphql, every entry valid against the demo supergraph', () => {
    const dir = 'examples/trusted-documents';
    const files = readdirSync(dir)
      .filter((file) => file.endsWith('.graphql'))
      .sort();
    const expected = manifestOf(files.map((file) => ({ name: join(dir, file), text: readFileSync(join(dir, file), 'utf8') })));
    const committed = readManifest('examples/trusted-documents.json');
    expect([...committed.documents.values()]).toEqual(expected.operations);
    const report = checkDocuments(committed, apiSchemaFromSupergraph(readFileSync(DEMO_SUPERGRAPH, 'utf8')), undefined, 10);
    expect(report).toEqual({ valid: expected.operations.length, invalid: [], precomputed: 0 });
  });
});

describe('trusted documents on a supergraph hot reload', () => {
  it('checks the list again and precomputes costs with the new schema and cost model', async () => {
    const subgraph = await startTinySubgraph();
    const supergraphPath = writeTinySupergraph(subgraph.url, TINY_SDL);
    const body = 'query Stock { warehouses { code capacity } }';
    const path = writeManifest('reload.json', {
      format: 'apollo-persisted-query-manifest',
      version: 1,
      operations: [{ id: sha256(body), name: 'Stock', type: 'query', body }],
    });
    const gw = await startTestGateway({
      supergraph: { path: supergraphPath, watch: true, pollIntervalMs: 50 },
      cost: { overridesPath: join(dirname(supergraphPath), 'no-costs.yaml') },
      rateLimit: { extensions: true },
      graphql: { trustedDocuments: { mode: 'allow-list', manifest: path } },
    });
    try {
      const checks = () => gw.logs.find((l) => l.msg === 'trusted documents checked against the schema');
      // The first supergraph has no `capacity`: the listed document is invalid (warned, not fatal).
      expect(checks()).toHaveLength(1);
      expect(checks()[0]).toMatchObject({ invalid: 1, precomputed: 0 });
      expect(code((await post(gw.graphqlUrl, { documentId: sha256(body) })).body)).toBe('GRAPHQL_VALIDATION_FAILED');

      const costed = TINY_SDL_V2.replace('import: ["@key"]', 'import: ["@key", "@cost", "@listSize"]')
        .replace('warehouses: [Warehouse!]!', 'warehouses: [Warehouse!]! @listSize(assumedSize: 2)')
        .replace('capacity: Int!', 'capacity: Int! @cost(weight: 5)');
      const temp = join(dirname(supergraphPath), '.next');
      writeFileSync(temp, composeTiny(subgraph.url, costed));
      renameSync(temp, supergraphPath);
      for (let i = 0; i < 200 && checks().length < 2; i++) await new Promise((resolve) => setTimeout(resolve, 50));
      expect(checks()[1]).toMatchObject({ invalid: 0, precomputed: 1 });
      const result = await post(gw.graphqlUrl, { documentId: sha256(body) });
      expect(result.body.errors).toBeUndefined();
      expect((result.body.data?.warehouses as unknown[]).length).toBe(2);
      expect(result.body.extensions?.cost?.requestedQueryCost).toBe(12); // 2 warehouses × (1 + 5)
    } finally {
      await gw.close();
      await subgraph.close();
    }
  });
});
