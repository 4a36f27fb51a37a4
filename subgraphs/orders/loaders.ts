import DataLoader from 'dataloader';
import type { Order, OrderStore } from './data.js';

export interface OrdersLoaders {
  orderById: DataLoader<string, Order | null>;
  ordersByUserId: DataLoader<string, readonly Order[]>;
}

export interface OrdersContext {
  store: OrderStore;
  loaders: OrdersLoaders;
}

/** Fresh loaders per request, so one request's cache never serves another. */
export function createOrdersContext(store: OrderStore): OrdersContext {
  return {
    store,
    loaders: {
      orderById: new DataLoader((ids) => store.findOrdersByIds(ids)),
      ordersByUserId: new DataLoader((userIds) => store.findOrdersByUserIds(userIds)),
    },
  };
}
