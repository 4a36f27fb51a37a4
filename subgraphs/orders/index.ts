import { isMainModule, runSubgraphFromCommandLine } from '../shared/main-module.js';
import { startSubgraphServer, type StartSubgraphOptions, type SubgraphServer } from '../shared/server.js';
import { DataAccessStats } from '../shared/stats.js';
import { createOrderStore, type OrderStore } from './data.js';
import { createOrdersContext } from './loaders.js';
import { ordersResolvers } from './resolvers.js';

export type { BatchStats, DataAccessStats, StartSubgraphOptions, SubgraphServer } from '../shared/server.js';

/** The env variable that sets the demo ticker's pace in milliseconds (unset or 0: off). */
export const ORDERS_TICKER_ENV = 'ORDERS_TICKER_MS';

export interface StartOrdersOptions extends StartSubgraphOptions {
  /**
   * Every `tickerMs`, each order placed since the start moves one step along PENDING → PAID →
   * SHIPPED → DELIVERED (a `orderStatusChanged` event each). 0: off.
   * @default the `ORDERS_TICKER_MS` env variable, else 0 (off)
   */
  tickerMs?: number;
}

export interface OrdersSubgraphServer extends SubgraphServer {
  /** The data layer, for tests and the ticker. */
  store: OrderStore;
}

/** Starts the orders subgraph: GraphQL at /graphql (subscriptions over WebSocket too) and GET /health. State lives in this process. */
export async function startOrdersSubgraph(opts: StartOrdersOptions = {}): Promise<OrdersSubgraphServer> {
  const stats = new DataAccessStats();
  const store = createOrderStore(stats);
  const tickerMs = opts.tickerMs ?? tickerFromEnv();
  const ticker = tickerMs > 0 ? setInterval(() => advanceAll(store), tickerMs) : undefined;
  ticker?.unref();
  const server = await startSubgraphServer(
    {
      name: 'orders',
      resolvers: ordersResolvers,
      stats,
      createContext: (request) => createOrdersContext(store, request),
      subscriptions: true,
      onClose: () => clearInterval(ticker),
    },
    opts,
  );
  return { ...server, store };
}

/** One tick: every order placed since the start moves one step. */
export function advanceAll(store: OrderStore): number {
  const moving = store.ordersInFlight();
  for (const order of moving) store.advanceOrder(order.id);
  return moving.length;
}

function tickerFromEnv(): number {
  const raw = process.env[ORDERS_TICKER_ENV];
  if (raw === undefined || raw === '') return 0;
  const ms = Number(raw);
  if (!Number.isInteger(ms) || ms < 0) throw new Error(`${ORDERS_TICKER_ENV} must be a whole number of milliseconds, got "${raw}"`);
  return ms;
}

if (isMainModule(import.meta.url)) runSubgraphFromCommandLine(startOrdersSubgraph);
