import { trace, type ProxyTracerProvider } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEV_ISSUER } from '../gateway/src/auth/dev-secret.js';
import { loadConfig } from '../gateway/src/config/index.js';
import { startOrdersSubgraph } from '../subgraphs/orders/index.js';
import { startProductsSubgraph } from '../subgraphs/products/index.js';
import type { SubgraphServer } from '../subgraphs/shared/server.js';
import { tracingFromEnv } from '../subgraphs/shared/tracing-options.js';
import { startUsersSubgraph } from '../subgraphs/users/index.js';
import { devBearer } from './helpers/auth.js';
import { freePort } from './helpers/ports.js';
import { startFaultProxy, type FaultProxy } from './helpers/fault-proxy.js';
import { postGraphql, startTestGateway, type TestGateway } from './helpers/gateway.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from './helpers/otlp-receiver.js';
import { eventually, metricValue, PRODUCTS_STATIC, SUPERGRAPH } from './helpers/resilience.js';
import { startRestUpstream, type RestUpstream } from './helpers/rest-upstream.js';
import { startTinySubgraph, writeTinySupergraph, type TinySubgraph } from './helpers/tiny-subgraph.js';

/** users → orders → products in one query. */
const CROSS = /* GraphQL */ `
  query UserOrders($id: ID!) {
    user(id: $id) {
      id
      name
      orders(first: 2) {
        edges {
          node {
            id
            total
            items {
              quantity
              product {
                upc
                name
                price
              }
            }
          }
        }
      }
    }
  }
`;

const SPAN_SERVER = 2;
const SPAN_CLIENT = 3;
const STATUS_ERROR = 2;
/** Short batch delay: spans reach the receiver within a few hundred ms. */
const FAST_EXPORT = { exportDelayMs: 50 };

let receiver: OtlpReceiver;
beforeAll(async () => {
  receiver = await startOtlpReceiver();
});
afterAll(async () => {
  await receiver?.close();
});

function spansOf(traceId: string): ReceivedSpan[] {
  return receiver.spans.filter((span) => span.traceId === traceId);
}

/** Waits until the trace has a span named `last` (spans arrive in batches, children before parents). */
async function traceWith(traceId: string, ...names: string[]): Promise<ReceivedSpan[]> {
  const complete = () => names.every((name) => spansOf(traceId).some((span) => span.name === name));
  expect(
    await eventually(complete, 10_000),
    `spans ${names.join(', ')} of trace ${traceId}: got ${spansOf(traceId)
      .map((s) => s.name)
      .join(', ')}`,
  ).toBe(true);
  return spansOf(traceId);
}

function only(spans: ReceivedSpan[], predicate: (span: ReceivedSpan) => boolean, what: string): ReceivedSpan {
  const found = spans.filter(predicate);
  expect(found, what).toHaveLength(1);
  return found[0] as ReceivedSpan;
}

const childrenOf = (spans: ReceivedSpan[], parent: ReceivedSpan) => spans.filter((span) => span.parentSpanId === parent.spanId);

// First in the file, before any gateway with tracing on has registered the process's provider.
describe('with tracing off', () => {
  it("registers no tracer provider: @apollo/gateway's spans go to the API's no-op tracer", async () => {
    const tiny = await startTinySubgraph();
    const gw = await startTestGateway({
      supergraph: { path: writeTinySupergraph(tiny.url), watch: false },
      tracing: { enabled: false, endpoint: receiver.url },
    });
    try {
      const result = await postGraphql(gw.graphqlUrl, { query: '{ warehouses { code } }' }, { 'x-request-id': 'never-traced' });
      expect(result.status).toBe(200);
      const provider = trace.getTracerProvider() as ProxyTracerProvider;
      expect(provider.getDelegate().constructor.name).toBe('NoopTracerProvider');
      expect(gw.logs.completed('never-traced')[0]?.traceId).toBeUndefined();
      expect(tiny.receivedHeaders.at(-1)?.traceparent).toBeUndefined();
    } finally {
      await gw.close();
      await tiny.close();
    }
    expect(receiver.exports).toBe(0);
  });
});

describe('a cross-subgraph query, traced end to end, with products failing and a static fallback', () => {
  let subgraphs: SubgraphServer[] = [];
  let proxies: Record<'users' | 'orders' | 'products', FaultProxy>;
  let gw: TestGateway;

  beforeAll(async () => {
    // The demo subgraphs join the trace, exporting to the same receiver.
    const tracing = { endpoint: receiver.url, serviceName: '', exportDelayMs: 50 };
    const options = (name: string) => ({ host: '127.0.0.1', port: 0, tracing: { ...tracing, serviceName: `${name}-subgraph` } });
    subgraphs = await Promise.all([
      startUsersSubgraph(options('users')),
      startOrdersSubgraph(options('orders')),
      startProductsSubgraph(options('products')),
    ]);
    const [users, orders, products] = subgraphs as [SubgraphServer, SubgraphServer, SubgraphServer];
    proxies = {
      users: await startFaultProxy(users.url),
      orders: await startFaultProxy(orders.url),
      products: await startFaultProxy(products.url),
    };
    gw = await startTestGateway({
      supergraph: { path: SUPERGRAPH, watch: false },
      auth: { jwt: { issuers: [DEV_ISSUER] } },
      tracing: { enabled: true, endpoint: receiver.url, serviceName: 'gateway-under-test', traceIdInExtensions: true, ...FAST_EXPORT },
      resilience: { subgraphDefaults: { retry: { maxRetries: 1, baseDelayMs: 1, maxDelayMs: 1 } } },
      subgraphs: {
        users: { url: proxies.users.url },
        orders: { url: proxies.orders.url },
        products: { url: proxies.products.url, fallback: { cache: false, static: PRODUCTS_STATIC } },
      },
    });
  });
  afterAll(async () => {
    await gw?.close();
    await Promise.all(Object.values(proxies ?? {}).map((proxy) => proxy.close()));
    await Promise.all(subgraphs.map((subgraph) => subgraph.close()));
  });

  it("exports the span tree: request → parse, validate, cost, Apollo's request → plan, execute → fetch per subgraph → attempts → subgraph spans", async () => {
    await proxies.products.kill();
    const auth = await devBearer('user-3', ['orders:read:all']);
    const result = await postGraphql(
      gw.graphqlUrl,
      { query: CROSS, variables: { id: 'user-7' }, operationName: 'UserOrders' },
      { ...auth, 'x-request-id': 'traced-cross-1' },
    );
    expect(result.status).toBe(200);
    expect(result.headers.get('x-fallback-source')).toBe('static');
    const traceId = (result.body.extensions as { traceId?: string }).traceId as string;
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);

    const spans = await traceWith(
      traceId,
      'POST /graphql',
      'gateway.request',
      'gateway.execute',
      'resolve Query.user',
      'resolve Query._entities',
    );
    const gatewaySpans = spans.filter((span) => span.service === 'gateway-under-test');

    // The request span: the root, a server span with what the gateway learned about the request.
    const root = only(gatewaySpans, (span) => span.name === 'POST /graphql', 'request span');
    expect(root.parentSpanId).toBe('');
    expect(root.kind).toBe(SPAN_SERVER);
    expect(root.attributes).toMatchObject({
      'http.request.method': 'POST',
      'http.route': '/graphql',
      'http.response.status_code': 200,
      'gateway.request_id': 'traced-cross-1',
      'graphql.operation.name': 'UserOrders',
      'graphql.operation.type': 'query',
      'gateway.client.id': expect.stringMatching(/^user:.*:user-3$/),
      'gateway.client.tier': expect.any(String),
      'gateway.rate_limit.result': 'allowed',
      'gateway.rate_limit.remaining': expect.any(Number),
      'gateway.fallback.sources': ['static'],
      'gateway.outcome': 'success',
    });
    expect(root.attributes['gateway.cost.estimated']).toBeGreaterThan(0);
    expect(root.attributes['gateway.cost.actual']).toBeGreaterThan(0);

    // Its children: parse, validate, cost (ours) and Apollo's gateway.request.
    expect(
      childrenOf(spans, root)
        .map((span) => span.name)
        .sort(),
    ).toEqual(['gateway.cost', 'gateway.request', 'graphql.parse', 'graphql.validate']);
    const cost = only(spans, (span) => span.name === 'gateway.cost', 'cost span');
    expect(cost.attributes).toMatchObject({
      'gateway.rate_limit.result': 'allowed',
      'gateway.cost.estimated': root.attributes['gateway.cost.estimated'],
    });

    const apolloRequest = only(spans, (span) => span.name === 'gateway.request', 'Apollo request span');
    expect(childrenOf(spans, apolloRequest).map((span) => span.name)).toEqual(expect.arrayContaining(['gateway.plan', 'gateway.execute']));
    const execute = only(spans, (span) => span.name === 'gateway.execute', 'execute span');
    const fetches = spans.filter((span) => span.name === 'gateway.fetch');
    expect(fetches.map((span) => span.attributes.service).sort()).toEqual(['orders', 'products', 'users']);
    for (const fetch of fetches) expect(fetch.parentSpanId).toBe(execute.spanId);

    // The healthy calls: one attempt each, 200, and the subgraph's server span below that attempt.
    for (const name of ['users', 'orders']) {
      const fetch = only(fetches, (span) => span.attributes.service === name, `${name} fetch`);
      expect(fetch.attributes['gateway.subgraph.result']).toBe('success');
      const [attempt, ...more] = childrenOf(spans, fetch);
      expect(more).toEqual([]);
      expect(attempt).toMatchObject({
        name: 'gateway.subgraph.attempt',
        kind: SPAN_CLIENT,
        attributes: expect.objectContaining({
          'gateway.subgraph.name': name,
          'gateway.attempt': 1,
          'gateway.breaker.state': 'closed',
          'http.response.status_code': 200,
        }),
      });
      // The subgraph received this attempt's traceparent...
      const sent = proxies[name as 'users' | 'orders'].requests.map((request) => request.headers.traceparent);
      expect(sent).toContain(`00-${traceId}-${attempt?.spanId}-01`);
      // ...and its own span is that attempt's child, with its resolvers below.
      const server = only(
        spans,
        (span) => span.service === `${name}-subgraph` && span.parentSpanId === attempt?.spanId,
        `${name} subgraph span`,
      );
      expect(server.kind).toBe(SPAN_SERVER);
      expect(childrenOf(spans, server).map((span) => span.name).length).toBeGreaterThan(0);
    }

    // The failed call: error status, the fallback that answered, one span per attempt (retry included).
    const products = only(fetches, (span) => span.attributes.service === 'products', 'products fetch');
    expect(products.status.code).toBe(STATUS_ERROR);
    expect(products.attributes).toMatchObject({ 'gateway.subgraph.result': 'network_error', 'gateway.fallback.source': 'static' });
    const attempts = childrenOf(spans, products).sort(
      (a, b) => Number(a.attributes['gateway.attempt']) - Number(b.attributes['gateway.attempt']),
    );
    expect(
      attempts.map((span) => [span.name, span.attributes['gateway.attempt'], span.attributes['error.type'], span.status.code]),
    ).toEqual([
      ['gateway.subgraph.attempt', 1, 'network_error', STATUS_ERROR],
      ['gateway.subgraph.attempt', 2, 'network_error', STATUS_ERROR],
    ]);

    // The trace id is in the request's log line.
    expect(gw.logs.completed('traced-cross-1')[0]?.traceId).toBe(traceId);
    // No credential reaches the exporter.
    expect(receiver.raw.join('\n')).not.toContain(auth.authorization?.replace(/^Bearer /, '') ?? 'no token');
    await proxies.products.revive();
  });

  it('a call refused by the open breaker is still an attempt span: breaker state open, error.type breaker_open, nothing sent', async () => {
    await proxies.products.kill();
    try {
      const auth = await devBearer('user-3', ['orders:read:all']);
      const ask = (requestId: string) =>
        postGraphql(
          gw.graphqlUrl,
          { query: CROSS, variables: { id: 'user-7' }, operationName: 'UserOrders' },
          { ...auth, 'x-request-id': requestId },
        );
      const open = async () => (await metricValue(gw, 'gateway_circuit_breaker_state', { subgraph: 'products' })) === 2;
      for (let i = 0; i < 40 && !(await open()); i++) await ask(`opening-${i}`);
      expect(await open()).toBe(true);

      const result = await ask('traced-refused-1');
      expect(result.headers.get('x-fallback-source')).toBe('static');
      const traceId = (result.body.extensions as { traceId?: string }).traceId as string;
      const spans = await traceWith(traceId, 'POST /graphql', 'gateway.execute', 'gateway.subgraph.attempt');
      const products = only(spans, (span) => span.name === 'gateway.fetch' && span.attributes.service === 'products', 'products fetch');
      expect(products.attributes).toMatchObject({ 'gateway.subgraph.result': 'breaker_open', 'gateway.fallback.source': 'static' });
      const [attempt, ...more] = childrenOf(spans, products);
      expect(more).toEqual([]);
      expect(attempt?.attributes).toMatchObject({
        'gateway.attempt': 1,
        'gateway.breaker.state': 'open',
        'error.type': 'breaker_open',
      });
      expect(attempt?.status.code).toBe(STATUS_ERROR);
    } finally {
      await proxies.products.revive();
    }
  });
});

describe('incoming trace context: honoured from trusted peers only, and passed on to subgraphs', () => {
  let tiny: TinySubgraph;
  let supergraphPath: string;
  const gateways: TestGateway[] = [];
  const start = async (tracing: Record<string, unknown>, server: Record<string, unknown> = {}) => {
    const gw = await startTestGateway({
      supergraph: { path: supergraphPath, watch: false },
      server,
      tracing: { endpoint: receiver.url, ...FAST_EXPORT, ...tracing },
    });
    gateways.push(gw);
    return gw;
  };
  const CLIENT_TRACE = '0af7651916cd43dd8448eb211c80319c';
  const CLIENT_PARENT = 'b7ad6b7169203331';
  const traceparent = `00-${CLIENT_TRACE}-${CLIENT_PARENT}-01`;

  beforeAll(async () => {
    tiny = await startTinySubgraph();
    supergraphPath = writeTinySupergraph(tiny.url);
  });
  afterAll(async () => {
    for (const gw of gateways) await gw.close();
    await tiny?.close();
  });

  async function ask(gw: TestGateway, requestId: string, headers: Record<string, string> = {}, operationName = 'Warehouses') {
    const result = await postGraphql(
      gw.graphqlUrl,
      { query: `query ${operationName} { warehouses { code } }` },
      { 'x-request-id': requestId, ...headers },
    );
    expect(result.status).toBe(200);
    const line = gw.logs.completed(requestId)[0];
    const received = tiny.receivedHeaders.at(-1);
    return { result, traceId: line?.traceId as string | undefined, subgraphTraceparent: received?.traceparent };
  }

  it("continues a trusted client's trace: same trace id, its span as the parent, the subgraph gets the same trace", async () => {
    const gw = await start({ enabled: true, trustIncoming: ['127.0.0.0/8', '::1'] });
    const { traceId, subgraphTraceparent } = await ask(gw, 'trust-1', { traceparent, tracestate: 'vendor=abc' });
    expect(traceId).toBe(CLIENT_TRACE);
    const spans = await traceWith(CLIENT_TRACE, 'POST /graphql', 'gateway.subgraph.attempt');
    const root = only(spans, (span) => span.name === 'POST /graphql', 'request span');
    expect(root.parentSpanId).toBe(CLIENT_PARENT);
    const attempt = only(spans, (span) => span.name === 'gateway.subgraph.attempt', 'attempt span');
    expect(subgraphTraceparent).toBe(`00-${CLIENT_TRACE}-${attempt.spanId}-01`);
    expect(tiny.receivedHeaders.at(-1)?.tracestate).toBe('vendor=abc');
  });

  it('ignores the traceparent of an untrusted peer (the default: only server.trustedProxies, none set)', async () => {
    const gw = await start({ enabled: true });
    const { result, traceId, subgraphTraceparent } = await ask(gw, 'untrusted-1', { traceparent });
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(traceId).not.toBe(CLIENT_TRACE);
    expect((result.body.extensions as { traceId?: string } | undefined)?.traceId).toBeUndefined();
    // The subgraph continues the gateway's trace, not the client's.
    expect(subgraphTraceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
    const root = only(await traceWith(traceId as string, 'POST /graphql'), (span) => span.name === 'POST /graphql', 'request span');
    expect(root.parentSpanId).toBe('');
  });

  it('trusts a peer listed in server.trustedProxies under trustIncoming: trustedProxies', async () => {
    const gw = await start({ enabled: true, trustIncoming: 'trustedProxies' }, { trustedProxies: ['loopback'] });
    const { traceId } = await ask(gw, 'proxy-1', { traceparent: `00-${CLIENT_TRACE.replace('0a', '1b')}-${CLIENT_PARENT}-01` });
    expect(traceId).toBe(CLIENT_TRACE.replace('0a', '1b'));
  });

  it('starts a new trace on a malformed traceparent (W3C: ignore it) and answers normally', async () => {
    const gw = await start({ enabled: true, trustIncoming: 'always' });
    const { traceId } = await ask(gw, 'malformed-1', { traceparent: '00-zzzz-not-a-trace' });
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);
  });

  it('traces plain subgraph calls too (resilience.enabled: false): one attempt span, its traceparent sent', async () => {
    const gw = await startTestGateway({
      supergraph: { path: supergraphPath, watch: false },
      resilience: { enabled: false },
      tracing: { enabled: true, endpoint: receiver.url, ...FAST_EXPORT },
    });
    gateways.push(gw);
    const { traceId, subgraphTraceparent } = await ask(gw, 'plain-1');
    const spans = await traceWith(traceId as string, 'POST /graphql', 'gateway.subgraph.attempt');
    const fetch = only(spans, (span) => span.name === 'gateway.fetch', 'fetch span');
    const attempt = only(spans, (span) => span.name === 'gateway.subgraph.attempt', 'attempt span');
    expect(attempt.parentSpanId).toBe(fetch.spanId);
    expect(attempt.attributes).toMatchObject({ 'gateway.attempt': 1, 'http.response.status_code': 200 });
    expect(attempt.attributes['gateway.breaker.state']).toBeUndefined();
    expect(subgraphTraceparent).toBe(`00-${traceId}-${attempt.spanId}-01`);
  });

  it('with tracing off: no span exported, no traceparent sent on, no trace id in the log', async () => {
    // In the same process as the traced gateways above: the provider stays registered, yet spans
    // started under no gateway's route are not recorded.
    const gw = await start({ enabled: false });
    const { result, traceId, subgraphTraceparent } = await ask(gw, 'off-1', { traceparent }, 'UntracedOperation');
    expect(traceId).toBeUndefined();
    expect(subgraphTraceparent).toBeUndefined();
    expect((result.body.extensions as { traceId?: string } | undefined)?.traceId).toBeUndefined();
    // A traced request afterwards is exported: once it is, anything from the untraced one would have been too.
    const traced = await start({ enabled: true });
    const { traceId: later } = await ask(traced, 'off-2');
    await traceWith(later as string, 'POST /graphql');
    const untraced = receiver.spans.filter(
      (span) => span.attributes['gateway.request_id'] === 'off-1' || span.attributes['graphql.operation.name'] === 'UntracedOperation',
    );
    expect(untraced).toEqual([]);
    // Apollo's spans carry the operation name when recorded: the traced request's are there.
    expect(
      receiver.spans.some((span) => span.name === 'gateway.request' && span.attributes['graphql.operation.name'] === 'Warehouses'),
    ).toBe(true);
  });
});

describe('deduplicated subgraph calls', () => {
  it("mark the fetch span of the call that joined one in flight; the attempts are in the first request's trace", async () => {
    const tiny = await startTinySubgraph();
    const gw = await startTestGateway({
      supergraph: { path: writeTinySupergraph(tiny.url), watch: false },
      tracing: { enabled: true, endpoint: receiver.url, ...FAST_EXPORT },
    });
    try {
      const ask = (id: string) => postGraphql(gw.graphqlUrl, { query: '{ slow(ms: 400) }' }, { 'x-request-id': id });
      const answers = await Promise.all([ask('dedupe-1'), ask('dedupe-2')]);
      expect(answers.map((answer) => answer.status)).toEqual([200, 200]);
      expect(
        tiny.receivedHeaders.filter((headers) => headers['x-request-id'] === 'dedupe-1' || headers['x-request-id'] === 'dedupe-2'),
      ).toHaveLength(1);
      const traces = ['dedupe-1', 'dedupe-2'].map((id) => gw.logs.completed(id)[0]?.traceId as string);
      const fetchOf = async (traceId: string) => {
        const spans = await traceWith(traceId, 'POST /graphql', 'gateway.fetch');
        const fetch = only(spans, (span) => span.name === 'gateway.fetch', 'fetch span');
        return { fetch, attempts: childrenOf(spans, fetch) };
      };
      const [first, second] = await Promise.all(traces.map(fetchOf));
      const [leader, follower] = first?.fetch.attributes['gateway.subgraph.deduplicated'] ? [second, first] : [first, second];
      expect(follower?.fetch.attributes['gateway.subgraph.deduplicated']).toBe(true);
      expect(follower?.attempts).toEqual([]);
      expect(leader?.fetch.attributes['gateway.subgraph.deduplicated']).toBeUndefined();
      expect(leader?.attempts.map((span) => span.name)).toEqual(['gateway.subgraph.attempt']);
    } finally {
      await gw.close();
      await tiny.close();
    }
  });
});

describe('REST passthrough calls', () => {
  let upstream: RestUpstream;
  let gw: TestGateway;
  beforeAll(async () => {
    upstream = await startRestUpstream();
    const tiny = await startTinySubgraph();
    gw = await startTestGateway({
      supergraph: { path: writeTinySupergraph(tiny.url), watch: false },
      tracing: { enabled: true, endpoint: receiver.url, ...FAST_EXPORT },
      rest: { routes: [{ prefix: '/legacy/echo', upstream: upstream.origin, auth: { mode: 'optional' } }] },
    });
    await tiny.close();
  });
  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
  });

  it("get a client span per attempt, whose traceparent the upstream receives (the client's own is replaced)", async () => {
    const response = await fetch(`${gw.url}/legacy/echo/a?x=1`, {
      headers: { 'x-request-id': 'rest-traced-1', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
    });
    expect(response.status).toBe(200);
    const traceId = gw.logs.completed('rest-traced-1')[0]?.traceId as string;
    const spans = await traceWith(traceId, 'GET /legacy/echo/*', 'gateway.rest.attempt');
    const root = only(spans, (span) => span.name === 'GET /legacy/echo/*', 'request span');
    expect(root.attributes).toMatchObject({
      'gateway.rest.route': '/legacy/echo',
      'gateway.rest.attempts': 1,
      'http.response.status_code': 200,
    });
    const attempt = only(spans, (span) => span.name === 'gateway.rest.attempt', 'attempt span');
    expect(attempt.parentSpanId).toBe(root.spanId);
    expect(attempt.kind).toBe(SPAN_CLIENT);
    expect(attempt.attributes).toMatchObject({ 'gateway.attempt': 1, 'http.response.status_code': 200, 'url.path': '/legacy/echo/a' });
    expect(upstream.hits.at(-1)?.headers.traceparent).toBe(`00-${traceId}-${attempt.spanId}-01`);
  });
});

describe('a collector that is down', () => {
  it('costs dropped spans and a warning in the log, never a failed request', async () => {
    const tiny = await startTinySubgraph();
    const gw = await startTestGateway({
      supergraph: { path: writeTinySupergraph(tiny.url), watch: false },
      tracing: { enabled: true, endpoint: `http://127.0.0.1:${await freePort()}/v1/traces`, exportTimeoutMs: 1_000, ...FAST_EXPORT },
    });
    let closed = false;
    try {
      for (let i = 0; i < 3; i++) expect((await postGraphql(gw.graphqlUrl, { query: '{ warehouses { code } }' })).status).toBe(200);
      const warned = () => gw.logs.find((line) => line.msg === 'tracing export failed; spans dropped').length > 0;
      expect(await eventually(warned, 10_000)).toBe(true);
      const line = gw.logs.find((l) => l.msg === 'tracing export failed; spans dropped')[0];
      expect(line?.droppedSpans).toBeGreaterThan(0);
      // Logged once, not once per failed export.
      expect(gw.logs.find((l) => l.msg === 'tracing export failed; spans dropped')).toHaveLength(1);
      await gw.close();
      closed = true;
    } finally {
      if (!closed) await gw.close();
      await tiny.close();
    }
  });
});

describe('tracing config', () => {
  it('reads the documented environment variables', () => {
    const config = loadConfig({
      env: { TRACING_ENABLED: 'true', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://jaeger:4318/v1/traces', OTEL_SERVICE_NAME: 'edge' },
    });
    expect(config.tracing).toMatchObject({
      enabled: true,
      endpoint: 'http://jaeger:4318/v1/traces',
      serviceName: 'edge',
      trustIncoming: 'trustedProxies',
      traceIdInExtensions: false,
    });
  });

  it("turns the demo subgraphs' tracing on from OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, named <name>-subgraph unless OTEL_SERVICE_NAME says", () => {
    expect(tracingFromEnv('users', {})).toBeUndefined();
    expect(tracingFromEnv('users', { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://jaeger:4318/v1/traces' })).toEqual({
      endpoint: 'http://jaeger:4318/v1/traces',
      serviceName: 'users-subgraph',
    });
    expect(
      tracingFromEnv('users', { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://j:4318/v1/traces', OTEL_SERVICE_NAME: 'accounts' })
        ?.serviceName,
    ).toBe('accounts');
  });

  it('refuses a bad trust list, ratio or endpoint with the key named', () => {
    expect(() => loadConfig({ env: {}, overrides: { tracing: { trustIncoming: ['10.0.0.0/33'] } } })).toThrow(/tracing\.trustIncoming/);
    expect(() => loadConfig({ env: {}, overrides: { tracing: { sampleRatio: 2 } } })).toThrow(/tracing\.sampleRatio/);
    expect(() => loadConfig({ env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'jaeger:4318' } })).toThrow(
      /tracing\.endpoint \(from env OTEL_EXPORTER_OTLP_TRACES_ENDPOINT\)/,
    );
  });
});
