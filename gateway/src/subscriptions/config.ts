import { z } from 'zod';
import { positiveInt } from '../config-kit.js';

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
      .describe('Events that may wait for one subscriber; one more ends its subscription (`slow_consumer`, WebSocket close 4429).'),
    upstreamRetryAttempts: z
      .number()
      .int()
      .min(0)
      .default(5)
      .describe(
        'How often a lost connection to the subgraph is re-established (re-subscribing) before the client gets SUBSCRIPTION_UPSTREAM_FAILED and the subscription ends.',
      ),
    upstreamRetryBaseMs: positiveInt
      .default(250)
      .describe('The first wait before reconnecting to a subgraph, doubled each attempt (with jitter).'),
    upstreamRetryMaxMs: positiveInt.default(5_000).describe('The longest wait between two reconnects to a subgraph.'),
    keepAliveMs: positiveInt
      .default(12_000)
      .describe('SSE comment / multipart empty part sent this often on an idle subscription, so proxies keep the stream open.'),
  })
  .strict()
  .prefault({});

export type SubscriptionsConfig = z.output<typeof SubscriptionsConfigSchema>;
