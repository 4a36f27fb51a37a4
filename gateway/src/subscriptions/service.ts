import type { GraphQLDataSource, ServiceEndpointDefinition } from '@apollo/gateway';
import type { GraphQLRequestContextResponseForOperation } from '@apollo/server';
import type { GraphQLFormattedError, GraphQLSchema } from 'graphql';
import type { Logger } from 'pino';
import type { GatewayContext } from '../context.js';
import type { EndReason } from './channel.js';
import type { SubscriptionsConfig } from './config.js';
import { SubscriptionPlanner } from './planner.js';
import { startSession, type SessionOptions, type SubscriptionSession } from './session.js';
import './state.js';
import { UpstreamConnections } from './upstream-connections.js';
import pLimit, { type LimitFunction } from 'p-limit';

type RequestContext = ReturnType<SessionOptions['eventContext']>;

export interface SubscriptionServiceOptions {
  config: SubscriptionsConfig;
  logger: Logger;
  buildService: (definition: ServiceEndpointDefinition) => GraphQLDataSource;
  /** The subgraphs the loaded supergraph declares. */
  subgraphs: () => readonly { name: string; url: string }[];
  /**
   * The headers the subgraph's connection carries for this subscription (in `connectionParams`):
   * those its header rules forward, then the identity headers, as on its HTTP calls. Subscriptions
   * whose headers differ never share a connection.
   */
  upstreamHeaders: (requestContext: GraphQLRequestContextResponseForOperation<GatewayContext>, subgraph: string) => Record<string, string>;
  requestIdHeader: string;
  /** Runs when a subscription ends (metrics, log line), with the events it delivered and dropped so far. */
  onEnd?(context: GatewayContext, reason: EndReason, startedAt: number, counts: { delivered: number; dropped: number }): void;
  /** Runs as events are delivered to a subscriber or dropped (metrics). */
  onCount?(context: GatewayContext, kind: 'delivered' | 'dropped', n: number): void;
  /** Runs after each event's execution (its cost charged); a returned reason ends the subscription. */
  afterEvent?: (context: GatewayContext) => SessionOptions['afterEvent'];
}

/**
 * The gateway's subscriptions: plans them on each supergraph load, starts a session per client
 * subscription, and ends them all on shutdown or when a reload changes their plan.
 */
export class SubscriptionService {
  readonly planner = new SubscriptionPlanner();
  private readonly sessions = new Map<SubscriptionSession, { context: GatewayContext; reload: (schema: GraphQLSchema) => boolean }>();
  private dataSources: Record<string, GraphQLDataSource> = {};
  private readonly built = new Map<string, GraphQLDataSource>();

  /** Every subscription's events share it: see `subscriptions.maxConcurrentEvents`. */
  private readonly eventSlots: LimitFunction;
  /** Connections to the subgraphs, one per URL and identity. */
  readonly upstreamConnections: UpstreamConnections;

  constructor(private readonly options: SubscriptionServiceOptions) {
    this.eventSlots = pLimit(options.config.maxConcurrentEvents);
    this.upstreamConnections = new UpstreamConnections(() => ({
      retryAttempts: options.config.upstreamRetryAttempts,
      retryBaseMs: options.config.upstreamRetryBaseMs,
      retryMaxMs: options.config.upstreamRetryMaxMs,
      connectTimeoutMs: options.config.upstreamConnectTimeoutMs,
    }));
  }

  get active(): number {
    return this.sessions.size;
  }

  /** The running subscriptions, by the protocol their client uses. */
  activeByProtocol(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const { context } of this.sessions.values()) {
      const protocol = context.state.subscriptionProtocol ?? 'unknown';
      counts.set(protocol, (counts.get(protocol) ?? 0) + 1);
    }
    return counts;
  }

  /** A new supergraph: a new planner; subscriptions whose plan changed end with `schema_changed`. */
  load(apiSchema: GraphQLSchema, supergraphSdl: string): void {
    try {
      this.planner.load(apiSchema, supergraphSdl);
    } catch (error) {
      this.options.logger.error({ err: error instanceof Error ? error.message : String(error) }, 'subscription planner failed to load');
      return;
    }
    const dataSources: Record<string, GraphQLDataSource> = {};
    for (const { name, url } of this.options.subgraphs()) {
      const key = `${name} ${url}`;
      let source = this.built.get(key);
      if (!source) this.built.set(key, (source = this.options.buildService({ name, url })));
      dataSources[name] = source;
    }
    this.dataSources = dataSources;
    for (const [session, { reload }] of this.sessions) {
      if (!reload(apiSchema))
        void session.end('schema_changed', {
          message: 'The supergraph changed and this subscription no longer plans the same way; subscribe again.',
          extensions: { code: 'SUBSCRIPTION_SCHEMA_CHANGED' },
        });
    }
  }

  /** Starts the subscription of an operation Apollo resolved, validated, authorized and charged. */
  start(requestContext: GraphQLRequestContextResponseForOperation<GatewayContext>, release?: () => void): SubscriptionSession {
    const { schema, document, request, contextValue } = requestContext;
    const operationName = request.operationName ?? requestContext.operation.name?.value;
    const plan = this.planner.plan(schema, document, operationName);
    const serviceName = plan.primary.serviceName;
    const startedAt = Date.now();
    const upstreamUrl = this.upstreamUrl(serviceName);
    const afterEvent = this.options.afterEvent?.(contextValue);
    const upstream = this.upstreamConnections.lease(upstreamUrl, this.options.upstreamHeaders(requestContext, serviceName));
    let session: SubscriptionSession;
    try {
      session = startSession({
        plan,
        upstream,
        headers: { [this.options.requestIdHeader]: contextValue.requestId },
        variables: request.variables,
        dataSources: this.dataSources,
        eventContext: () => eventContext(requestContext),
        eventSlot: (execute) => this.eventSlots(execute),
        bufferSize: this.options.config.bufferSize,
        afterEvent,
        onEnd: (reason) => {
          this.sessions.delete(session);
          release?.();
          this.options.onEnd?.(contextValue, reason, startedAt, session.results.counts);
        },
        onCount: (kind, n) => this.options.onCount?.(contextValue, kind, n),
      });
    } catch (error) {
      upstream.release();
      throw error;
    }
    this.sessions.set(session, {
      context: contextValue,
      reload: (apiSchema) => this.planner.stillValid(apiSchema, document, operationName, plan),
    });
    return session;
  }

  /** Ends every subscription of one client (e.g. its token expired), or every one (`shutdown`); waits for events in flight. */
  async endAll(reason: EndReason, error?: GraphQLFormattedError, which: (context: GatewayContext) => boolean = () => true): Promise<void> {
    const ending = [...this.sessions].filter(([, { context }]) => which(context)).map(([session]) => session.end(reason, error));
    await Promise.all(ending);
  }

  private upstreamUrl(serviceName: string): string {
    const configured = this.options.config.subgraphs[serviceName]?.url;
    if (configured) return configured;
    const httpUrl = (this.dataSources[serviceName] as { url?: string } | undefined)?.url;
    if (!httpUrl) throw new Error(`no URL is known for the subgraph "${serviceName}"`);
    return httpUrl.replace(/^http/, 'ws');
  }
}

/** The request context one event's fetches run with: the subscription's, with a fresh context value (its own deadline and errors). */
function eventContext(requestContext: GraphQLRequestContextResponseForOperation<GatewayContext>): RequestContext {
  const { contextValue } = requestContext;
  const context: GatewayContext = {
    ...contextValue,
    state: { ...contextValue.state, receivedAt: Date.now(), errorCodes: [], hasData: false, subscription: undefined },
  };
  return {
    request: requestContext.request,
    logger: requestContext.logger,
    schema: requestContext.schema,
    schemaHash: '',
    context,
    cache: requestContext.cache,
    queryHash: requestContext.queryHash,
    document: requestContext.document,
    source: requestContext.source,
    operationName: requestContext.operationName,
    operation: requestContext.operation,
    metrics: {},
    overallCachePolicy: requestContext.overallCachePolicy,
  } as unknown as RequestContext;
}
