import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** How a request ended, as a client would see it. */
export type RequestOutcome = 'success' | 'partial' | 'graphql_error' | 'client_error' | 'server_error';
/**
 * How one subgraph call ended: `graphql_error` is a 200 with errors (the subgraph answered);
 * `timeout`, `breaker_open` (no network call made) and `bulkhead_rejected` (no network call made)
 * come from the resilience layer; `no_replica` means every replica of a replicated subgraph was out
 * (no network call made). A call answered by a fallback is counted with the failure the
 * fallback stood in for, and once more in `gateway_fallback_requests_total`; `slow` is a query
 * answered from a cached copy because the call passed its soft deadline (stale-if-slow; the call
 * itself went on).
 */
export type SubgraphResult =
  'success' | 'graphql_error' | 'http_error' | 'network_error' | 'timeout' | 'breaker_open' | 'bulkhead_rejected' | 'no_replica' | 'slow';

/** `gateway_circuit_breaker_state` values. */
export const BREAKER_STATE_VALUE = { closed: 0, half_open: 1, open: 2 } as const;
export type ReloadResult = 'success' | 'failure';

export const OTHER_OPERATIONS = '__other__';
/** The `client` label of every client past `metrics.maxClientLabels`. */
export const OTHER_CLIENTS = '__other__';

export interface MetricsOptions {
  /** Distinct operation names kept as label values before new ones become `__other__`. */
  maxOperationLabels: number;
  /** Export prom-client's Node.js process metrics. */
  defaultMetrics: boolean;
  /**
   * Distinct clients kept as `client` label values of `gateway_client_cost_total` before new ones
   * become `__other__`.
   * @default 100
   */
  maxClientLabels?: number;
}

/**
 * The gateway's Prometheus metrics, on a registry of its own (not prom-client's global one), so
 * that several gateways in one process (tests, benchmarks) never share or clash on series.
 */
export class GatewayMetrics {
  readonly registry = new Registry();
  private readonly operationLabels = new Set<string>();
  private readonly clientLabels = new Set<string>();

  readonly requests = this.counter('gateway_requests_total', 'GraphQL requests by operation name, operation type and outcome.', [
    'operation',
    'type',
    'outcome',
  ]);

  readonly requestDuration = new Histogram({
    name: 'gateway_request_duration_seconds',
    help: 'GraphQL request duration in seconds, from the first byte received to the response sent.',
    labelNames: ['operation', 'type', 'outcome'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  readonly authAttempts = this.counter(
    'gateway_auth_total',
    'Authentication attempts by method (jwt, api_key, anonymous, none) and result (success or the reason of the refusal).',
    ['method', 'result'],
  );

  readonly subgraphRequests = this.counter(
    'gateway_subgraph_requests_total',
    'Calls from the gateway to subgraphs, by subgraph and result.',
    ['subgraph', 'result'],
  );

  readonly subgraphDuration = new Histogram({
    name: 'gateway_subgraph_request_duration_seconds',
    help: 'Duration of calls to subgraphs in seconds, by subgraph and result.',
    labelNames: ['subgraph', 'result'] as const,
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });

  readonly breakerState = new Gauge({
    name: 'gateway_circuit_breaker_state',
    help: 'Circuit breaker state per subgraph: 0 closed, 1 half-open, 2 open.',
    labelNames: ['subgraph'] as const,
    registers: [this.registry],
  });

  private refillFactors: (() => Iterable<[string, number]>) | undefined;

  readonly budgetRefillFactor = new Gauge({
    name: 'gateway_budget_refill_factor',
    help: 'Adaptive budgets: the factor (0..1] applied to token-bucket refill rates for operations that use this subgraph; 1 when healthy.',
    labelNames: ['subgraph'] as const,
    registers: [this.registry],
    // Computed at scrape time: the factor changes with breaker state and time, not only on requests.
    collect: () => {
      if (!this.refillFactors) return;
      for (const [subgraph, factor] of this.refillFactors()) this.budgetRefillFactor.set({ subgraph }, factor);
    },
  });

  /** Where `gateway_budget_refill_factor` reads the factors from (set when adaptive budgets are on). */
  reportRefillFactors(source: () => Iterable<[string, number]>): void {
    this.refillFactors = source;
  }

  private heldAnswerBytes: (() => number) | undefined;

  readonly fallbackHeldBytes = new Gauge({
    name: 'gateway_fallback_held_bytes',
    help: "Subgraph calls' first answers this instance holds in memory instead of writing them to Redis, as counted against resilience.heldAnswersMaxBytes (one byte per character plus 128 per entry).",
    registers: [this.registry],
    collect: () => {
      if (this.heldAnswerBytes) this.fallbackHeldBytes.set(this.heldAnswerBytes());
    },
  });

  /** Where `gateway_fallback_held_bytes` reads its value from (set when first answers are held). */
  reportHeldAnswerBytes(source: () => number): void {
    this.heldAnswerBytes = source;
  }

  /** Read just before `gateway_upstream_replica_state` is collected (an ejection ends by time, with no event to set the gauge). */
  readonly beforeReplicaStateCollect = new Set<() => void>();

  readonly upstreamReplicaState = new Gauge({
    name: 'gateway_upstream_replica_state',
    help: 'State of each replica of a replicated subgraph: 0 healthy, 1 unhealthy (failing active health checks), 2 ejected (consecutive failures).',
    labelNames: ['subgraph', 'replica'] as const,
    registers: [this.registry],
    collect: () => {
      for (const refresh of this.beforeReplicaStateCollect) refresh();
    },
  });

  readonly upstreamRequests = this.counter(
    'gateway_upstream_requests_total',
    'Attempts sent to each replica of a replicated subgraph, by result: success (it answered), failure (network, timeout, 5xx), rejected (its breaker was open), cancelled (a hedged call was answered by another replica first).',
    ['subgraph', 'replica', 'result'],
  );

  readonly upstreamEjections = this.counter(
    'gateway_upstream_ejections_total',
    'Times a replica of a replicated subgraph was ejected after consecutive failures.',
    ['subgraph', 'replica'],
  );

  readonly breakerTransitions = this.counter(
    'gateway_circuit_breaker_transitions_total',
    'Circuit breaker state changes, by breaker, new state and cause: local (its own calls and timers), remote (another gateway instance reported it through Redis) or pinned (an operator held or released it through the admin API).',
    ['breaker', 'state', 'cause'],
  );

  readonly breakerSync = this.counter(
    'gateway_breaker_sync_total',
    'Shared breaker state through Redis: published, publish_failed, applied (a remote change taken), ignored (already in that state, out of order or unknown breaker), stale (older than maxMessageAgeMs), read_failed.',
    ['result'],
  );

  readonly fallbackRequests = this.counter(
    'gateway_fallback_requests_total',
    'Subgraph calls answered by a fallback, by subgraph, source (cache or static) and reason (error: the call failed; slow: it passed its soft deadline).',
    ['subgraph', 'source', 'reason'],
  );

  readonly subgraphRetries = this.counter(
    'gateway_subgraph_retries_total',
    'Retries of subgraph queries after a connection error or a 502/503/504.',
    ['subgraph'],
  );

  readonly subgraphHedges = this.counter(
    'gateway_subgraph_hedges_total',
    'Hedges sent: second attempts of a query to another replica after the first had not answered by the hedge delay.',
    ['subgraph'],
  );
  readonly subgraphHedgesWon = this.counter(
    'gateway_subgraph_hedges_won_total',
    'Hedges that answered before the first attempt (which was then aborted).',
    ['subgraph'],
  );
  readonly subgraphHedgesSkipped = this.counter(
    'gateway_subgraph_hedges_skipped_total',
    'Calls past their hedge delay that were not hedged, by reason: budget (the hedge budget was spent), no_replica (no other usable replica), bulkhead (it was full).',
    ['subgraph', 'reason'],
  );

  readonly subgraphDeduplicated = this.counter(
    'gateway_subgraph_deduplicated_total',
    'Subgraph queries that shared an identical call already in flight instead of making their own.',
    ['subgraph'],
  );

  readonly responseCacheHits = this.counter(
    'gateway_response_cache_hits_total',
    'Subgraph answers served fresh from the response cache, by subgraph and kind (query: a whole answer, entity: one entity of an _entities fetch).',
    ['subgraph', 'kind'],
  );

  readonly responseCacheMisses = this.counter(
    'gateway_response_cache_misses_total',
    'Cacheable subgraph queries (or entities) not found in the response cache and fetched live, by subgraph and kind.',
    ['subgraph', 'kind'],
  );

  readonly responseCacheStale = this.counter(
    'gateway_response_cache_stale_total',
    'Stale copies served within their stale-while-revalidate window while a refresh runs, by subgraph and kind.',
    ['subgraph', 'kind'],
  );

  readonly responseCachePurges = this.counter(
    'gateway_response_cache_purges_total',
    'Response cache entries deleted because a mutation returned their entity, by the subgraph of the mutation.',
    ['subgraph', 'reason'],
  );

  readonly supergraphReloads = this.counter(
    'gateway_supergraph_reloads_total',
    'Attempts to load a changed supergraph (file or remote source), by result (a failure keeps the previous supergraph).',
    ['result'],
  );

  readonly supergraphFetches = this.counter(
    'gateway_supergraph_fetches_total',
    'Fetches from a remote supergraph source (`url`, `uplink`), by result: `updated`, `unchanged`, `error`, or `rejected` (fetched but refused).',
    ['source', 'result'],
  );

  readonly supergraphLastUpdate = new Gauge({
    name: 'gateway_supergraph_last_update_timestamp_seconds',
    help: 'When a supergraph from the remote source last became the served one (Unix seconds; 0 until then, e.g. while serving the disk copy).',
    registers: [this.registry],
  });

  readonly supergraphLastFetchSuccess = new Gauge({
    name: 'gateway_supergraph_last_successful_fetch_timestamp_seconds',
    help: 'When the remote supergraph source last answered, with a supergraph or "unchanged" (Unix seconds; 0 until then).',
    registers: [this.registry],
  });

  readonly operationCost = new Histogram({
    name: 'gateway_operation_cost',
    help: 'Cost of GraphQL operations in points: `estimated` before execution (every estimated operation), `actual` from the response (executed operations).',
    labelNames: ['kind'] as const,
    buckets: [1, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000],
    registers: [this.registry],
  });

  readonly persistedQueries = this.counter(
    'gateway_persisted_queries_total',
    'Documents sent by id or checked against the trusted-documents list, by kind and result. kind `trusted`: `hit` (listed document), `unknown` (unlisted, run in log-unknown mode), `refused` (unlisted, allow-list mode), `bypass` (unlisted, run for an exempt caller). kind `apq`: `hit`, `miss`, `registered`, `store_error` (Redis slow or down: counted as a miss).',
    ['kind', 'result'],
  );

  readonly trustedDocuments = new Gauge({
    name: 'gateway_trusted_documents',
    help: 'Documents of the trusted-documents manifest after the last supergraph load: `valid`, or `invalid` against the served schema.',
    labelNames: ['state'] as const,
    registers: [this.registry],
  });

  readonly batchSize = new Histogram({
    name: 'gateway_batch_operations',
    help: 'Operations in each batched GraphQL request (each operation is also counted in gateway_requests_total).',
    buckets: [1, 2, 3, 5, 10, 20, 50],
    registers: [this.registry],
  });

  readonly rateLimitDecisions = this.counter(
    'gateway_rate_limit_total',
    'Budget decisions by tier and result: allowed, limited (429), rejected (over a per-operation limit, 400), unavailable (store down, failing closed: 503).',
    ['tier', 'result'],
  );

  readonly clientCost = this.counter(
    'gateway_client_cost_total',
    'Cost points spent from budgets, by client (its clientKey, bounded by metrics.maxClientLabels, then __other__) and tier: the estimate charged minus what was refunded after execution, and the route cost of REST requests.',
    ['client', 'tier'],
  );

  readonly rateLimitStoreErrors = new Counter({
    name: 'gateway_rate_limit_store_errors_total',
    help: 'Budget calls to Redis that failed or timed out (answered by the failure policy instead).',
    registers: [this.registry],
  });

  readonly restRequests = this.counter(
    'gateway_rest_requests_total',
    'REST passthrough requests by route (its configured prefix, never the raw path), method and status class (2xx..5xx) of the answer sent.',
    ['route', 'method', 'status_class'],
  );

  readonly restDuration = new Histogram({
    name: 'gateway_rest_request_duration_seconds',
    help: 'REST passthrough request duration in seconds (to the last byte sent), by route and status class.',
    labelNames: ['route', 'status_class'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });

  readonly restTimeouts = new Counter({
    name: 'gateway_rest_upstream_timeouts_total',
    help:
      "REST upstream calls that ran past one of their route's deadlines, by route and phase: connect, first_byte (status line and headers), " +
      'body (a gap between body chunks) or response (the whole answer).',
    labelNames: ['route', 'phase'] as const,
    registers: [this.registry],
  });

  readonly restWebSockets = new Gauge({
    name: 'gateway_rest_websocket_connections',
    help: 'WebSocket connections relayed by REST routes now, by route.',
    labelNames: ['route'] as const,
    registers: [this.registry],
  });

  readonly restWebSocketsClosed = this.counter(
    'gateway_rest_websocket_closed_total',
    'Relayed WebSocket connections ended, by route and reason: client, upstream, idle, lifetime, shutdown or error.',
    ['route', 'reason'],
  );

  readonly restFallbacks = this.counter(
    'gateway_rest_fallback_total',
    'REST GET requests answered from the fallback cache because the upstream failed, by route.',
    ['route'],
  );

  readonly httpRejections = new Counter({
    name: 'gateway_http_rejections_total',
    help:
      'Requests and connections refused by slow-client protection, by reason: overloaded (503, in-flight cap), request_timeout (408), ' +
      'slow_body (408, under the minimum upload rate), headers_too_large (431), bad_request (unparsable HTTP), ' +
      'connection_limit (connection closed on accept).',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly inFlightRequests = new Gauge({
    name: 'gateway_http_in_flight_requests',
    help: 'Requests being handled now, as counted against server.maxInFlightRequests (probes not counted).',
    registers: [this.registry],
  });

  constructor(private readonly options: MetricsOptions) {
    if (options.defaultMetrics) collectDefaultMetrics({ register: this.registry });
    for (const result of ['success', 'failure']) this.supergraphReloads.inc({ result }, 0); // increase() needs a sample before a 1st failure
  }

  /** A counter on the gateway's registry. */
  private counter<L extends string>(name: string, help: string, labelNames: readonly L[]): Counter<L> {
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }

  /** The label value for an operation name, bounded to `maxOperationLabels` distinct values. */
  operationLabel(name: string | undefined): string {
    // No name: the request never reached a resolved operation (rejected by HTTP checks, parsing or validation).
    const label = name ?? '(none)';
    if (this.operationLabels.has(label)) return label;
    if (this.operationLabels.size >= this.options.maxOperationLabels) return OTHER_OPERATIONS;
    this.operationLabels.add(label);
    return label;
  }

  /**
   * The label value for a client, bounded to `maxClientLabels` distinct values. The first clients
   * seen keep their label for the life of the process; later ones are summed in `__other__`, so a
   * sum by tier stays exact while the series count stays bounded (the request log names every
   * client with its cost for the rest).
   */
  clientLabel(clientKey: string): string {
    if (this.clientLabels.has(clientKey)) return clientKey;
    if (this.clientLabels.size >= (this.options.maxClientLabels ?? 100)) return OTHER_CLIENTS;
    this.clientLabels.add(clientKey);
    return clientKey;
  }

  /** Counts `points` spent by a client in `gateway_client_cost_total`. */
  observeClientCost(clientKey: string, tier: string, points: number): void {
    if (points > 0) this.clientCost.inc({ client: this.clientLabel(clientKey), tier }, points);
  }

  observeRequest(operation: string | undefined, type: string, outcome: RequestOutcome, seconds: number): void {
    const labels = { operation: this.operationLabel(operation), type, outcome };
    this.requests.inc(labels);
    this.requestDuration.observe(labels, seconds);
  }

  observeRest(route: string, method: string, status: number, seconds: number): void {
    const statusClass = `${Math.floor(status / 100)}xx`;
    this.restRequests.inc({ route, method, status_class: statusClass });
    this.restDuration.observe({ route, status_class: statusClass }, seconds);
  }

  observeSubgraphCall(subgraph: string, result: SubgraphResult, seconds: number): void {
    this.subgraphRequests.inc({ subgraph, result });
    this.subgraphDuration.observe({ subgraph, result }, seconds);
  }
}
