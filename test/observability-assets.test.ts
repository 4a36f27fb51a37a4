import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parser } from '@prometheus-io/lezer-promql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { GatewayMetrics } from '../gateway/src/observability/metrics.js';
import { SubscriptionMetrics } from '../gateway/src/subscriptions/metrics.js';
import { bearer, bucket, deleteKeys, testKeyPrefix, waitForRedis } from './helpers/cost-stack.js';
import { postGraphql, type TestGateway } from './helpers/gateway.js';
import { TEST_REDIS_URL } from './helpers/redis.js';
import { PRODUCTS_STATIC, eventually, metricValue, startFaultyDemo, startGatewayOn, type FaultyDemo } from './helpers/resilience.js';
import { startRestUpstream, type RestUpstream } from './helpers/rest-upstream.js';

/**
 * The Grafana dashboard and the Prometheus alert rules in deploy/ read the gateway's metrics by
 * name. Nothing but this file ties those names to the code: every PromQL expression is parsed with
 * the Prometheus project's own grammar (@prometheus-io/lezer-promql), the metric names are read off
 * its vector selectors, and a real gateway, after real traffic, must export each of them.
 */

const root = fileURLToPath(new URL('..', import.meta.url));
const read = (path: string): string => readFileSync(`${root}${path}`, 'utf8');

// ---------------------------------------------------------------------------------------------------
// The assets

interface AlertRule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
const rules = parseYaml(read('deploy/prometheus/alerts.yml')) as { groups: { name: string; rules: AlertRule[] }[] };

interface Target {
  refId: string;
  expr: string;
  datasource?: { type?: string; uid?: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type?: string; uid?: string };
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: Target[];
}
interface Variable {
  name: string;
  type: string;
  query?: string | { query: string };
  datasource?: { uid?: string };
}
const dashboard = JSON.parse(read('deploy/grafana/dashboards/gateway.json')) as {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: Variable[] };
};
const dataPanels = dashboard.panels.filter((panel) => panel.type !== 'row');

/**
 * Grafana's interval variables stand where PromQL wants a duration; they become durations before
 * parsing. Template variables (`$instance`) only appear inside label matcher strings, which parse as is.
 */
function promqlOf(grafanaExpr: string): string {
  return grafanaExpr.replaceAll('$__rate_interval', '5m').replaceAll('$__interval', '1m').replaceAll('$__range', '1h');
}

/** Every expression to check, named by where it comes from. */
const expressions: { where: string; expr: string }[] = [
  ...rules.groups.flatMap((group) => group.rules.map((rule) => ({ where: `alerts.yml ${rule.alert ?? rule.record}`, expr: rule.expr }))),
  ...dataPanels.flatMap((panel) =>
    (panel.targets ?? []).map((target) => ({ where: `dashboard panel "${panel.title}" ${target.refId}`, expr: promqlOf(target.expr) })),
  ),
];

/** Parses with the Prometheus grammar; throws on the first syntax error, with its position. */
function metricNamesOf(expr: string): string[] {
  const tree = parser.parse(expr);
  const names: string[] = [];
  tree.iterate({
    enter(node) {
      if (node.type.isError)
        throw new Error(`syntax error at ${node.from}: ${JSON.stringify(expr.slice(Math.max(0, node.from - 20), node.to + 20))}`);
      if (node.type.name === 'VectorSelector') {
        const identifier = node.node.getChild('Identifier');
        if (identifier) names.push(expr.slice(identifier.from, identifier.to));
      }
    },
  });
  return names;
}

/** Metric names in the dashboard's template variable queries (`label_values(metric, label)`). */
const variableMetrics = dashboard.templating.list.flatMap((variable) => {
  const query = typeof variable.query === 'string' ? variable.query : (variable.query?.query ?? '');
  const match = /^label_values\((\w+),\s*\w+\)$/.exec(query);
  return match?.[1] ? [match[1]] : [];
});

/** Series Prometheus makes itself for every scrape target, not the gateway. */
const PROMETHEUS_SERIES = new Set(['up']);

// ---------------------------------------------------------------------------------------------------

describe('PromQL of the alert rules and the dashboard', () => {
  it('parses with the Prometheus grammar', () => {
    expect(expressions.length).toBeGreaterThan(20);
    for (const { where, expr } of expressions) expect(() => metricNamesOf(expr), where).not.toThrow();
  });

  it('reads at least one metric in every expression', () => {
    for (const { where, expr } of expressions) expect(metricNamesOf(expr).length, where).toBeGreaterThan(0);
  });

  it('is checked by a parser that rejects broken PromQL', () => {
    // The guard itself: without it the tests above would pass on anything.
    expect(() => metricNamesOf('sum(rate(gateway_requests_total[5m])')).toThrow(/syntax error/);
    expect(() => metricNamesOf('rate(gateway_requests_total{outcome="x"}[5m]) >')).toThrow(/syntax error/);
    expect(metricNamesOf('histogram_quantile(0.9, sum by (le) (rate(a_bucket{x=~"$y"}[5m]))) / on() b')).toEqual(['a_bucket', 'b']);
  });
});

describe('deploy/prometheus/alerts.yml', () => {
  const all = rules.groups.flatMap((group) => group.rules);

  it('is a rule file of named groups of alerts, each with for, a severity and summary, description and runbook', () => {
    expect(rules.groups.length).toBeGreaterThan(0);
    const groupNames = rules.groups.map((group) => group.name);
    expect(new Set(groupNames).size).toBe(groupNames.length);
    for (const rule of all) {
      expect(rule.alert, JSON.stringify(rule)).toMatch(/^[A-Z][A-Za-z0-9]+$/);
      expect(rule.for, `${rule.alert} for`).toMatch(/^\d+[smh]$/);
      expect(['critical', 'warning', 'info'], `${rule.alert} severity`).toContain(rule.labels?.severity);
      for (const annotation of ['summary', 'description', 'runbook']) {
        expect(rule.annotations?.[annotation]?.length ?? 0, `${rule.alert} ${annotation}`).toBeGreaterThan(10);
      }
    }
    const names = all.map((rule) => rule.alert);
    expect(new Set(names).size).toBe(names.length);
  });

  it('covers the alerts an operator needs: breaker open, fallback rate, 5xx rate, rate-limit store failing open', () => {
    const reads = (metric: string) => all.filter((rule) => metricNamesOf(rule.expr).includes(metric)).map((rule) => rule.alert);
    expect(reads('gateway_circuit_breaker_state').length).toBeGreaterThan(0);
    expect(reads('gateway_fallback_requests_total').length).toBeGreaterThan(0);
    expect(all.some((rule) => /outcome="server_error"|status_class="5xx"/.test(rule.expr))).toBe(true);
    expect(reads('gateway_rate_limit_store_errors_total').length).toBeGreaterThan(0);
  });
});

describe('deploy/grafana/dashboards/gateway.json', () => {
  const variables = new Map(dashboard.templating.list.map((variable) => [variable.name, variable]));

  it('is a dashboard of schema ~39 with a uid, unique panel ids and panels inside the 24-column grid', () => {
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(dashboard.uid).toMatch(/^[\w-]{1,40}$/);
    const ids = dashboard.panels.map((panel) => panel.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const panel of dashboard.panels) {
      expect(panel.gridPos.x + panel.gridPos.w, panel.title).toBeLessThanOrEqual(24);
      expect(panel.gridPos.w * panel.gridPos.h, panel.title).toBeGreaterThan(0);
    }
    // No two panels overlap.
    for (const [i, a] of dashboard.panels.entries()) {
      for (const b of dashboard.panels.slice(i + 1)) {
        const overlap =
          a.gridPos.x < b.gridPos.x + b.gridPos.w &&
          b.gridPos.x < a.gridPos.x + a.gridPos.w &&
          a.gridPos.y < b.gridPos.y + b.gridPos.h &&
          b.gridPos.y < a.gridPos.y + a.gridPos.h;
        expect(overlap, `${a.title} overlaps ${b.title}`).toBe(false);
      }
    }
  });

  it('gives every panel targets with unique refIds, all on the datasource variable', () => {
    const datasource = variables.get('datasource');
    expect(datasource?.type).toBe('datasource');
    expect(datasource?.query).toBe('prometheus');
    expect(dataPanels.length).toBeGreaterThan(15);
    for (const panel of dataPanels) {
      expect(panel.datasource?.uid, panel.title).toBe('${datasource}');
      const targets = panel.targets ?? [];
      expect(targets.length, panel.title).toBeGreaterThan(0);
      expect(new Set(targets.map((target) => target.refId)).size, panel.title).toBe(targets.length);
      for (const target of targets) {
        expect(target.datasource?.uid, panel.title).toBe('${datasource}');
        expect(target.expr.trim(), panel.title).not.toBe('');
      }
    }
  });

  it('has instance, tier and subgraph variables, and uses only variables it defines', () => {
    for (const name of ['instance', 'tier', 'subgraph']) {
      expect(variables.get(name)?.type, name).toBe('query');
      expect(variables.get(name)?.datasource?.uid, name).toBe('${datasource}');
    }
    const builtins = new Set(['__rate_interval', '__interval', '__range']);
    for (const panel of dataPanels) {
      for (const target of panel.targets ?? []) {
        for (const [, name] of target.expr.matchAll(/\$(\w+)/g)) {
          expect(variables.has(name as string) || builtins.has(name as string), `${panel.title}: $${name}`).toBe(true);
        }
      }
    }
    const used = (name: string) => dataPanels.some((panel) => panel.targets?.some((target) => target.expr.includes(`$${name}`)));
    for (const name of ['instance', 'tier', 'subgraph']) expect(used(name), `$${name} is used`).toBe(true);
  });

  it('shows what an operator needs: traffic and latency by operation, cost and 429s by tier, top clients, breakers, fallbacks, Redis store errors', () => {
    const exprs = dataPanels.flatMap((panel) => (panel.targets ?? []).map((target) => target.expr));
    const has = (pattern: RegExp) =>
      expect(
        exprs.some((expr) => pattern.test(expr)),
        String(pattern),
      ).toBe(true);
    has(/sum by \(operation\) \(rate\(gateway_requests_total/);
    has(/histogram_quantile\(0\.95, sum by \(operation, le\) \(rate\(gateway_request_duration_seconds_bucket/);
    has(/sum by \(tier\) \(rate\(gateway_client_cost_total/);
    has(/sum by \(tier\) \(rate\(gateway_rate_limit_total\{[^}]*result="limited"/);
    has(/topk\(10, sum by \(client\) \(increase\(gateway_client_cost_total/);
    has(/gateway_circuit_breaker_state/);
    has(/sum by \(subgraph, source\) \(rate\(gateway_fallback_requests_total/);
    has(/gateway_rate_limit_store_errors_total/);
  });
});

// ---------------------------------------------------------------------------------------------------
// A real gateway after real traffic

/** The Prometheus text format: `# TYPE` lines and the series that have samples. */
function parseExposition(text: string): { types: Map<string, string>; sampled: Set<string> } {
  const types = new Map<string, string>();
  const sampled = new Set<string>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type?.[1] && type[2]) types.set(type[1], type[2]);
    else if (line && !line.startsWith('#')) sampled.add(line.split(/[{ ]/)[0] as string);
  }
  return { types, sampled };
}

/** The names a query may use for a metric of this type: histograms are read through their series. */
function queryableNames(name: string, type: string): string[] {
  if (type === 'histogram') return [`${name}_bucket`, `${name}_sum`, `${name}_count`];
  if (type === 'summary') return [name, `${name}_sum`, `${name}_count`];
  return [name];
}

/** Top { topProducts(first: 3) { upc name inStock } }: 9 points estimated. */
const TOP = 'query Top { topProducts(first: 3) { upc name inStock } }';
/** Estimated for a product that does not exist: the null costs nothing, so the actual cost is lower and the rest is refunded. */
const WITH_MISSING = 'query WithMissing { topProducts(first: 2) { upc } product(upc: "no-such-product") { upc name inStock } }';

describe('the metrics the dashboard and the alert rules read, on a running gateway', () => {
  const prefix = testKeyPrefix('obs-assets');
  let demo: FaultyDemo;
  let upstream: RestUpstream;
  let gw: TestGateway;
  let exposition: { types: Map<string, string>; sampled: Set<string> };
  const results: Record<string, { status: number; body: Record<string, unknown> }> = {};
  /** gateway_client_cost_total by client label (tier roomy for __other__), after the GraphQL requests and after the REST one. */
  const spent: Record<'graphql' | 'rest', Record<string, number>> = { graphql: {}, rest: {} };
  let bobAllowed = 0;
  const spentNow = async () => ({
    alice: await metricValue(gw, 'gateway_client_cost_total', { client: 'user:gateway-demo:alice', tier: 'roomy' }),
    bob: await metricValue(gw, 'gateway_client_cost_total', { client: 'user:gateway-demo:bob', tier: 'small' }),
    other: await metricValue(gw, 'gateway_client_cost_total', { client: '__other__', tier: 'roomy' }),
  });

  beforeAll(async () => {
    demo = await startFaultyDemo();
    upstream = await startRestUpstream();
    gw = await startGatewayOn(demo, {
      redis: { url: TEST_REDIS_URL, keyPrefix: prefix },
      // waitForRedis reads /ready's Redis status (server.readinessDetail).
      server: { readinessDetail: true },
      metrics: { maxClientLabels: 2 },
      rateLimit: {
        extensions: true,
        storeTimeoutMs: 2_000,
        defaultTier: 'roomy',
        tiers: {
          roomy: { maxCost: 1_000, maxDepth: 10, maxAliases: 10, maxRootFields: 10, limits: [bucket('burst', 10_000, 100)] },
          // Room for eleven 9-point Tops, not twelve (the refill is negligible during the test).
          small: { maxCost: 100, maxDepth: 10, maxAliases: 10, maxRootFields: 10, limits: [bucket('burst', 100, 0.001)] },
        },
      },
      subgraphs: {
        // The first failure opens the breaker; one quick retry first; the static copy stands in.
        products: {
          breaker: { volumeThreshold: 1, errorThresholdPercentage: 1, resetTimeoutMs: 60_000 },
          retry: { maxRetries: 1, baseDelayMs: 1, maxDelayMs: 2 },
          fallback: { cache: false, static: PRODUCTS_STATIC },
        },
      },
      rest: {
        routes: [{ prefix: '/legacy', upstream: upstream.origin, rewrite: '/api', auth: { mode: 'optional' }, retries: { maxRetries: 0 } }],
      },
    });
    await waitForRedis(gw);

    const post = async (name: string, query: string, sub: string, tier: string) => {
      const result = await postGraphql(gw.graphqlUrl, { query }, await bearer(sub, tier));
      results[name] = { status: result.status, body: result.body };
    };
    await post('alice', WITH_MISSING, 'alice', 'roomy');
    // bob's 100 points hold eleven 9-point Tops; the twelfth is refused.
    for (let i = 0; i < 12; i++) {
      await post('bob', TOP, 'bob', 'small');
      if (results.bob?.status === 200) bobAllowed++;
    }
    await post('carol', TOP, 'carol', 'roomy');
    spent.graphql = await spentNow();
    // dave, a fourth client, on the REST route (cost 1).
    const rest = await fetch(`${gw.url}/legacy/echo`, { headers: await bearer('dave', 'roomy') });
    results.rest = { status: rest.status, body: {} };
    await rest.arrayBuffer();
    spent.rest = await spentNow();

    demo.proxies.products.mode = { kind: 'status', status: 503 };
    await post('failing', TOP, 'alice', 'roomy');
    await eventually(async () => (await metricValue(gw, 'gateway_circuit_breaker_state', { subgraph: 'products' })) === 2);
    await post('open', TOP, 'alice', 'roomy');

    const response = await fetch(`${gw.url}/metrics`);
    expect(response.status).toBe(200);
    exposition = parseExposition(await response.text());
  });

  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
    await demo?.close();
    await deleteKeys(TEST_REDIS_URL, prefix);
  });

  it('answered the traffic as intended: success, 429, REST, fallbacks behind an open breaker', () => {
    expect(results.alice?.status).toBe(200);
    expect(bobAllowed).toBe(11);
    expect(results.bob?.status).toBe(429);
    expect(results.carol?.status).toBe(200);
    expect(results.rest?.status).toBe(200);
    for (const name of ['failing', 'open']) {
      expect(results[name]?.status, name).toBe(200);
      expect(results[name]?.body.extensions, name).toMatchObject({ fallbacks: [{ subgraph: 'products', source: 'static' }] });
    }
  });

  it('exports every metric name the dashboard and the alert rules use', () => {
    const exported = new Set([...exposition.types].flatMap(([name, type]) => queryableNames(name, type)));
    const used = new Set([...expressions.flatMap(({ expr }) => metricNamesOf(expr)), ...variableMetrics]);
    expect(used.size).toBeGreaterThan(15);
    const missing = [...used].filter((name) => !exported.has(name) && !PROMETHEUS_SERIES.has(name));
    expect(missing).toEqual([]);
  });

  it('has samples, not only a TYPE line, for the metrics this traffic exercises', () => {
    const exercised = [
      'gateway_requests_total',
      'gateway_request_duration_seconds_bucket',
      'gateway_auth_total',
      'gateway_operation_cost_bucket',
      'gateway_client_cost_total',
      'gateway_rate_limit_total',
      'gateway_rate_limit_store_errors_total',
      'gateway_subgraph_requests_total',
      'gateway_subgraph_request_duration_seconds_bucket',
      'gateway_subgraph_retries_total',
      'gateway_circuit_breaker_state',
      'gateway_fallback_requests_total',
      'gateway_rest_requests_total',
      'gateway_rest_request_duration_seconds_bucket',
    ];
    const used = new Set(expressions.flatMap(({ expr }) => metricNamesOf(expr)));
    for (const name of exercised) {
      expect(used.has(name), `${name} is on the dashboard or in a rule`).toBe(true);
      expect(exposition.sampled.has(name), `${name} has samples`).toBe(true);
    }
  });

  it('counts cost spent per client and tier, net of refunds, with the client label bounded by metrics.maxClientLabels', async () => {
    const costOf = (name: string) =>
      (results[name]?.body.extensions as { cost: { requestedQueryCost: number; actualQueryCost: number } }).cost;
    // The refund matters here: alice's estimate is larger than what was used, and she is counted for the latter.
    expect(costOf('alice').actualQueryCost).toBeLessThan(costOf('alice').requestedQueryCost);
    expect(spent.graphql.alice).toBe(costOf('alice').actualQueryCost);
    // bob: eleven allowed Tops of 9 points each; his 429 spent nothing.
    expect(spent.graphql.bob).toBe(bobAllowed * 9);
    expect(await metricValue(gw, 'gateway_rate_limit_total', { tier: 'small', result: 'limited' })).toBeGreaterThanOrEqual(1);
    // carol is the third client with metrics.maxClientLabels 2: counted, under __other__.
    expect(spent.graphql.other).toBe(costOf('carol').actualQueryCost);
    const series = (await gw.gateway.metrics.registry.getSingleMetric('gateway_client_cost_total')?.get())?.values ?? [];
    expect(new Set(series.map((value) => value.labels.client))).toEqual(
      new Set(['user:gateway-demo:alice', 'user:gateway-demo:bob', '__other__']),
    );
  });

  it('counts the route cost of a REST request as spent (charged once, never refunded)', () => {
    const route = gw.gateway.config.rest.routes[0];
    expect(route?.cost).toBe(1);
    expect(spent.rest.other).toBe((spent.graphql.other ?? 0) + (route?.cost ?? 0));
    expect(spent.rest.alice).toBe(spent.graphql.alice);
  });
});

// ---------------------------------------------------------------------------------------------------
// docs/observability.md

describe('docs/observability.md metric table', () => {
  it("lists exactly the gateway's metrics, with their type and labels", () => {
    const section = read('docs/observability.md');
    const rows = [...section.matchAll(/^\| `(gateway_\w+)` \| (\w+) \| ([^|]*) \|/gm)].map(([, name, type, labels]) => ({
      name,
      type,
      labels: [...(labels ?? '').matchAll(/`(\w+)`/g)].map((match) => match[1]).sort(),
    }));
    const metrics = new GatewayMetrics({ maxOperationLabels: 1, defaultMetrics: false });
    // Features that register metrics of their own on the gateway's registry.
    new SubscriptionMetrics(metrics.registry, { active: () => new Map(), websocketConnections: () => 0 });
    const actual = metrics.registry.getMetricsAsArray().map((metric) => ({
      name: metric.name,
      type: metric.type,
      labels: [...((metric as unknown as { labelNames: readonly string[] }).labelNames ?? [])].sort(),
    }));
    expect(rows.sort((a, b) => String(a.name).localeCompare(String(b.name)))).toEqual(actual.sort((a, b) => a.name.localeCompare(b.name)));
  });
});
