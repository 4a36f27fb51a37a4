import { z } from 'zod';
import { durationMs, positiveInt } from '../config-kit.js';

const ClientLimitsSchema = z
  .object({
    maxSubscriptions: positiveInt.default(100).describe('Most subscriptions one client may run at once on one gateway instance.'),
    maxConnections: positiveInt.default(10).describe('Most WebSocket connections one client may hold at once on one gateway instance.'),
  })
  .strict();

/** `subscriptions`: GraphQL subscriptions over WebSocket, SSE and multipart, federated on every event. */
export const SubscriptionsConfigSchema = z
  .object({
    enabled: z
      .boolean()
      .default(true)
      .describe(
        'Serve subscriptions at `graphql.path`: WebSocket (`graphql-transport-ws`), Server-Sent Events (`Accept: text/event-stream`) and multipart (`Accept: multipart/mixed;subscriptionSpec=1.0`). Off: a subscription gets 400 SUBSCRIPTION_TRANSPORT_REQUIRED and WebSocket upgrades are refused.',
      ),
    subgraphs: z
      .record(
        z.string(),
        z
          .object({
            url: z
              .string()
              .regex(/^wss?:\/\//, 'must be a ws:// or wss:// URL')
              .describe("The subgraph's WebSocket URL for subscriptions."),
          })
          .strict(),
      )
      .default({})
      .describe("Per subgraph, the WebSocket URL the gateway subscribes to; by default the subgraph's URL with `http` turned into `ws`."),
    bufferSize: positiveInt
      .default(100)
      .describe(
        'Events that may wait for one subscriber; one more ends its subscription (`slow_consumer`, WebSocket close 4413; SSE and multipart: a SUBSCRIPTION_SLOW_CONSUMER error, then complete).',
      ),
    maxConcurrentEvents: positiveInt
      .default(32)
      .describe(
        "Events whose plan runs at once on this gateway, across every subscription; the others wait their turn (in order per subscription, within each subscriber's `bufferSize`). One event of a subscription selecting several subgraphs holds about one call per subgraph, so keep this under the subgraphs' `bulkhead.maxConcurrent`: 1,000 subscribers receiving the same event would otherwise make 1,000 calls at once, which the bulkheads refuse.",
      ),
    upstreamRetryAttempts: z
      .number()
      .int()
      .min(0)
      .default(5)
      .describe(
        'How often a lost connection to the subgraph is re-established (re-subscribing) before the client gets SUBSCRIPTION_UPSTREAM_FAILED and the subscription ends.',
      ),
    upstreamRetryBaseMs: durationMs
      .default(250)
      .describe('The first wait before reconnecting to a subgraph, doubled each attempt (with jitter).'),
    upstreamRetryMaxMs: durationMs.default(5_000).describe('The longest wait between two reconnects to a subgraph.'),
    upstreamConnectTimeoutMs: durationMs
      .default(5_000)
      .describe(
        'Longest the WebSocket handshake to a subgraph may stall (TCP, TLS and the upgrade: no byte from it for that long), then the longest wait for its `connection_ack`: past either, the connection counts as lost and is retried as one (`upstreamRetryAttempts`).',
      ),
    credentialsRecheckMs: durationMs
      .default(30_000)
      .describe(
        "How often the API key a running subscription was admitted with is checked again: one revoked, expired or unknown by then ends it (WebSocket close 4403; SSE and multipart: an UNAUTHENTICATED error, then complete). A token's `exp` ends it at that moment, whatever this is.",
      ),
    perClient: ClientLimitsSchema.prefault({}).describe(
      'Per client (its principal: user, API key, or the IP of an anonymous caller), on each gateway instance: the most concurrent subscriptions (over it: 429 SUBSCRIPTION_LIMIT_EXCEEDED, nothing charged) and WebSocket connections (over it: close 4429 `Too many connections`).',
    ),
    tiers: z
      .record(z.string().min(1), ClientLimitsSchema.partial())
      .default({})
      .describe('Per tier, limits that replace `perClient` for clients of that tier (a key left out keeps `perClient`).'),
    keepAliveMs: durationMs
      .default(12_000)
      .describe('SSE comment / multipart empty part sent this often on an idle subscription, so proxies keep the stream open.'),
  })
  .strict()
  .prefault({});

export type SubscriptionsConfig = z.output<typeof SubscriptionsConfigSchema>;
