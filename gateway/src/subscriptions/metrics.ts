import { Counter, Gauge, type Registry } from 'prom-client';
import type { EndReason } from './channel.js';

const PROTOCOLS = ['websocket', 'sse', 'multipart'] as const;

/** What the subscriptions feature reports to Prometheus, on the gateway's registry. */
export class SubscriptionMetrics {
  readonly events: Counter<'protocol' | 'result'>;
  readonly ended: Counter<'protocol' | 'reason'>;

  constructor(
    registry: Registry,
    sources: {
      /** Running subscriptions by protocol. */
      active(): ReadonlyMap<string, number>;
      /** Open WebSocket connections (each SSE or multipart subscription is a connection of its own). */
      websocketConnections(): number;
    },
  ) {
    new Gauge({
      name: 'gateway_subscriptions_active',
      help: 'Subscriptions running now, by client protocol (websocket, sse, multipart).',
      labelNames: ['protocol'] as const,
      registers: [registry],
      collect() {
        const active = sources.active();
        for (const protocol of PROTOCOLS) this.set({ protocol }, active.get(protocol) ?? 0);
      },
    });
    new Gauge({
      name: 'gateway_subscription_connections_active',
      help: 'Client connections that carry subscriptions, by protocol: WebSocket connections (with or without a subscription), and one per SSE or multipart subscription.',
      labelNames: ['protocol'] as const,
      registers: [registry],
      collect() {
        const active = sources.active();
        this.set({ protocol: 'websocket' }, sources.websocketConnections());
        this.set({ protocol: 'sse' }, active.get('sse') ?? 0);
        this.set({ protocol: 'multipart' }, active.get('multipart') ?? 0);
      },
    });
    this.events = new Counter({
      name: 'gateway_subscription_events_total',
      help: 'Subscription events by protocol and result: delivered (handed to the client connection), dropped (discarded for a slow consumer, or not delivered because its cost could not be charged).',
      labelNames: ['protocol', 'result'] as const,
      registers: [registry],
    });
    this.ended = new Counter({
      name: 'gateway_subscriptions_ended_total',
      help: 'Subscriptions ended, by protocol and reason (complete, client, error, upstream_failed, slow_consumer, rate_limited, token_expired, credentials_revoked, schema_changed, shutdown).',
      labelNames: ['protocol', 'reason'] as const,
      registers: [registry],
    });
  }

  countEnd(protocol: string | undefined, reason: EndReason): void {
    this.ended.inc({ protocol: protocol ?? 'unknown', reason });
  }
}
