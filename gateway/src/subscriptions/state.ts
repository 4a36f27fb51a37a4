import type { SubscriptionSession } from './session.js';

/** How a client reaches the gateway for streamed results. */
export type SubscriptionProtocol = 'websocket' | 'sse' | 'multipart';

declare module '../context.js' {
  interface RequestState {
    /** Set by a streaming transport before the operation runs; a subscription without one is refused. */
    subscriptionProtocol?: SubscriptionProtocol | undefined;
    /** Set when the operation was a subscription that started: the transport reads its results. */
    subscription?: SubscriptionSession | undefined;
  }
}
