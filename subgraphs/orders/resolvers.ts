import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/index.js';
import { centsToAmount } from '../shared/catalogue.js';
import { badUserInput, subgraphError } from '../shared/errors.js';
import { paginate, type ForwardPageArgs } from '../shared/relay.js';
import type { Order, OrderLine, OrderStore } from './data.js';
import type { OrderEvent } from './events.js';
import { canSeeOrdersOf, READ_ALL_ORDERS_SCOPE, type OrdersContext } from './loaders.js';

export const MAX_ITEMS_PER_ORDER = 50;
export const MIN_QUANTITY = 1;
export const MAX_QUANTITY = 100;

interface CreateOrderInput {
  items: { upc: string; quantity: number }[];
}

/** Checks the input against the user directory and price book; returns priced lines. */
function priceValidatedLines(userId: string, input: CreateOrderInput, store: OrderStore): OrderLine[] {
  if (!store.isKnownUser(userId)) {
    throw badUserInput(`User "${userId}" does not exist.`, 'x-user-id');
  }
  if (input.items.length === 0) {
    throw badUserInput('An order needs at least one item.', 'input.items');
  }
  if (input.items.length > MAX_ITEMS_PER_ORDER) {
    throw badUserInput(`An order can have at most ${MAX_ITEMS_PER_ORDER} items.`, 'input.items');
  }
  return input.items.map(({ upc, quantity }, index) => {
    if (quantity < MIN_QUANTITY || quantity > MAX_QUANTITY) {
      throw badUserInput(
        `Quantity must be between ${MIN_QUANTITY} and ${MAX_QUANTITY}, got ${quantity}.`,
        `input.items[${index}].quantity`,
      );
    }
    const unitPriceCents = store.unitPriceCents(upc);
    if (unitPriceCents === undefined) {
      throw badUserInput(`Product "${upc}" does not exist.`, `input.items[${index}].upc`);
    }
    return { upc, quantity, unitPriceCents };
  });
}

export const ordersResolvers: GraphQLResolverMap<OrdersContext> = {
  Query: {
    order: (_root: unknown, args: { id: string }, context: OrdersContext) => visibleOrder(args.id, context),
  },
  Mutation: {
    createOrder: (_root: unknown, args: { input: CreateOrderInput }, context: OrdersContext) => {
      const userId = context.viewer.id;
      if (!userId) throw subgraphError('UNAUTHENTICATED', 'Placing an order needs a signed-in caller.');
      const lines = priceValidatedLines(userId, args.input, context.store);
      const order = context.store.createOrder(userId, lines);
      context.loaders.ordersByUserId.clear(order.userId);
      context.loaders.orderById.prime(order.id, order);
      return order;
    },
    cancelOrder: async (_root: unknown, args: { id: string }, context: OrdersContext) => {
      // Someone else's order is reported exactly like a missing one, so ids cannot be probed.
      if (!(await visibleOrder(args.id, context))) throw subgraphError('NOT_FOUND', `Order "${args.id}" does not exist.`, 'id');
      const result = context.store.cancelOrder(args.id);
      switch (result.outcome) {
        case 'CANCELLED':
          return result.order;
        case 'NOT_FOUND':
          throw subgraphError('NOT_FOUND', `Order "${args.id}" does not exist.`, 'id');
        case 'ALREADY_CANCELLED':
          throw subgraphError('ORDER_ALREADY_CANCELLED', `Order "${args.id}" is already cancelled.`, 'id');
      }
    },
  },
  Subscription: {
    orderCreated: {
      subscribe: (_root: unknown, _args: unknown, context: OrdersContext) => subscribeVisible(context, (event) => event.kind === 'created'),
      resolve: (event: OrderEvent) => event.order,
    },
    orderStatusChanged: {
      subscribe: (_root: unknown, args: { id: string }, context: OrdersContext) =>
        subscribeVisible(context, (event) => event.kind === 'statusChanged' && event.order.id === args.id),
      resolve: (event: OrderEvent) => event.order,
    },
  },
  Order: {
    __resolveReference: (reference: Pick<Order, 'id'>, context: OrdersContext) => visibleOrder(reference.id, context),
    // A reference the users subgraph completes.
    user: (order: Order) => ({ id: order.userId }),
    total: (order: Order) => centsToAmount(order.totalCents),
  },
  LineItem: {
    // A reference the products subgraph completes.
    product: (line: OrderLine) => ({ upc: line.upc }),
    unitPrice: (line: OrderLine) => centsToAmount(line.unitPriceCents),
  },
  User: {
    orders: async (user: { id: string }, args: ForwardPageArgs, context: OrdersContext) =>
      canSeeOrdersOf(context.viewer, user.id) ? paginate(await context.loaders.ordersByUserId.load(user.id), args) : null,
  },
};

/** The events the caller may see (its own orders, or everyone's with `orders:read:all`) that `accept` keeps. */
function subscribeVisible(context: OrdersContext, accept: (event: OrderEvent) => boolean): AsyncIterableIterator<OrderEvent> {
  if (!context.viewer.id && !context.viewer.scopes.has(READ_ALL_ORDERS_SCOPE)) {
    throw subgraphError('UNAUTHENTICATED', 'Subscribing to orders needs a signed-in caller.');
  }
  return context.store.events.subscribe((event) => accept(event) && canSeeOrdersOf(context.viewer, event.order.userId));
}

/** The order, or null when it does not exist or the caller may not see it. */
async function visibleOrder(id: string, context: OrdersContext): Promise<Order | null> {
  const order = await context.loaders.orderById.load(id);
  return order && canSeeOrdersOf(context.viewer, order.userId) ? order : null;
}
