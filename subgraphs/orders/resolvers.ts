import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/index.js';
import { centsToAmount } from '../shared/catalogue.js';
import { badUserInput, subgraphError } from '../shared/errors.js';
import { paginate, type ForwardPageArgs } from '../shared/relay.js';
import type { Order, OrderLine, OrderStore } from './data.js';
import type { OrdersContext } from './loaders.js';

export const MAX_ITEMS_PER_ORDER = 50;
export const MIN_QUANTITY = 1;
export const MAX_QUANTITY = 100;

interface CreateOrderInput {
  userId: string;
  items: { upc: string; quantity: number }[];
}

/** Checks the input against the user directory and price book; returns priced lines. */
function priceValidatedLines(input: CreateOrderInput, store: OrderStore): OrderLine[] {
  if (!store.isKnownUser(input.userId)) {
    throw badUserInput(`User "${input.userId}" does not exist.`, 'input.userId');
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
    order: (_root: unknown, args: { id: string }, context: OrdersContext) => context.loaders.orderById.load(args.id),
  },
  Mutation: {
    createOrder: (_root: unknown, args: { input: CreateOrderInput }, context: OrdersContext) => {
      const lines = priceValidatedLines(args.input, context.store);
      const order = context.store.createOrder(args.input.userId, lines);
      context.loaders.ordersByUserId.clear(order.userId);
      context.loaders.orderById.prime(order.id, order);
      return order;
    },
    cancelOrder: (_root: unknown, args: { id: string }, context: OrdersContext) => {
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
  Order: {
    __resolveReference: (reference: Pick<Order, 'id'>, context: OrdersContext) =>
      context.loaders.orderById.load(reference.id),
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
      paginate(await context.loaders.ordersByUserId.load(user.id), args),
  },
};
