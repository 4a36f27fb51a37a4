import DataLoader from 'dataloader';
import type { FastifyRequest } from 'fastify';
import type { Order, OrderStore } from './data.js';

export interface OrdersLoaders {
  orderById: DataLoader<string, Order | null>;
  ordersByUserId: DataLoader<string, readonly Order[]>;
}

/**
 * Who is asking, as the gateway tells it (`x-user-id`, `x-user-scopes`). The subgraph trusts these
 * headers because only the gateway can reach it, and the gateway sets them from the verified
 * principal and never passes on a client's own.
 */
export interface Viewer {
  id: string | undefined;
  scopes: ReadonlySet<string>;
}

/** Lets a caller (an operator tool, a back-office service) read every user's orders. */
export const READ_ALL_ORDERS_SCOPE = 'orders:read:all';

export interface OrdersContext {
  store: OrderStore;
  loaders: OrdersLoaders;
  viewer: Viewer;
}

/** A user sees only their own orders, unless they hold `orders:read:all`. */
export function canSeeOrdersOf(viewer: Viewer, userId: string): boolean {
  return viewer.id === userId || viewer.scopes.has(READ_ALL_ORDERS_SCOPE);
}

function header(request: Pick<FastifyRequest, 'headers'> | undefined, name: string): string | undefined {
  const value = request?.headers[name];
  return (Array.isArray(value) ? value[0] : value) || undefined;
}

/** Fresh loaders per request, so one request's cache never serves another. */
export function createOrdersContext(store: OrderStore, request?: Pick<FastifyRequest, 'headers'>): OrdersContext {
  return {
    store,
    viewer: {
      id: header(request, 'x-user-id'),
      scopes: new Set((header(request, 'x-user-scopes') ?? '').split(' ').filter(Boolean)),
    },
    loaders: {
      orderById: new DataLoader((ids) => store.findOrdersByIds(ids)),
      ordersByUserId: new DataLoader((userIds) => store.findOrdersByUserIds(userIds)),
    },
  };
}
