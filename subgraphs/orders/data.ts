import { catalogueProducts, findCatalogueProduct } from '../shared/catalogue.js';
import { DEMO_ORDER_COUNT, DEMO_USER_COUNT, SEEDS, demoUserId, isDemoUserId } from '../shared/demo-dataset.js';
import { createSeededRandom, type SeededRandom } from '../shared/prng.js';
import type { DataAccessStats } from '../shared/stats.js';
import { OrderEvents } from './events.js';

export const ORDER_STATUSES = ['PENDING', 'PAID', 'SHIPPED', 'DELIVERED', 'CANCELLED'] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];

export interface OrderLine {
  readonly upc: string;
  readonly quantity: number;
  /** Price snapshot at order time, in integer cents. */
  readonly unitPriceCents: number;
}

export interface Order {
  readonly id: string;
  readonly userId: string;
  readonly items: readonly OrderLine[];
  /** Sum of quantity * unitPriceCents; integer cents, so exact. */
  readonly totalCents: number;
  status: OrderStatus;
  /** ISO 8601, UTC. */
  readonly createdAt: string;
}

export type CancelOrderResult =
  { outcome: 'CANCELLED'; order: Order } | { outcome: 'NOT_FOUND' } | { outcome: 'ALREADY_CANCELLED'; order: Order };

/** The orders data layer: the seeded orders of one server process, plus any placed since. */
export interface OrderStore {
  /** Batch function (counted as `ordersById`): one result per id, null for unknown ids. */
  findOrdersByIds(ids: readonly string[]): Promise<(Order | null)[]>;
  /** Batch function (counted as `ordersByUserId`): each user's orders, oldest first ([] if none). */
  findOrdersByUserIds(userIds: readonly string[]): Promise<(readonly Order[])[]>;
  /** Whether the replicated user directory knows this id (see shared/demo-dataset.ts). */
  isKnownUser(userId: string): boolean;
  /** Current price from the replicated price book (see shared/catalogue.ts); undefined if unknown. */
  unitPriceCents(upc: string): number | undefined;
  /** Stores a new PENDING order. Lines must already be validated. */
  createOrder(userId: string, lines: readonly OrderLine[]): Order;
  /** Checks and changes the status in one step, so two concurrent cancels cannot both succeed. */
  cancelOrder(id: string): CancelOrderResult;
  /** Moves an order one step along PENDING → PAID → SHIPPED → DELIVERED; undefined when it cannot move. */
  advanceOrder(id: string): Order | undefined;
  /** The orders placed since this process started that are still moving (not delivered or cancelled). */
  ordersInFlight(): Order[];
  /** New orders and status changes, for subscriptions. */
  readonly events: OrderEvents;
}

const NEXT_STATUS: Partial<Record<OrderStatus, OrderStatus>> = { PENDING: 'PAID', PAID: 'SHIPPED', SHIPPED: 'DELIVERED' };

const SEED_START_MS = Date.UTC(2024, 0, 1);
/** Seeded orders are spread one per 45-minute slot, so ids and createdAt grow together. */
const SEED_SLOT_MS = 45 * 60 * 1000;
/** The most recent seeded orders are still in flight; older ones were delivered. */
const IN_FLIGHT_ORDERS = 400;

function totalCentsOf(lines: readonly OrderLine[]): number {
  return lines.reduce((sum, line) => sum + line.quantity * line.unitPriceCents, 0);
}

function seededLines(random: SeededRandom): OrderLine[] {
  const products = catalogueProducts();
  const lineCount = random.intBetween(1, 5);
  const lines: OrderLine[] = [];
  while (lines.length < lineCount) {
    const product = random.pick(products);
    if (lines.some((line) => line.upc === product.upc)) continue;
    lines.push({ upc: product.upc, quantity: random.intBetween(1, 5), unitPriceCents: product.priceCents });
  }
  return lines;
}

function seededStatus(random: SeededRandom, ordinal: number): OrderStatus {
  if (random.chance(0.05)) return 'CANCELLED';
  if (ordinal <= DEMO_ORDER_COUNT - IN_FLIGHT_ORDERS) return 'DELIVERED';
  return random.pick(['PENDING', 'PAID', 'SHIPPED'] as const);
}

function generateOrders(): Order[] {
  const random = createSeededRandom(SEEDS.orders);
  const orders: Order[] = [];
  for (let ordinal = 1; ordinal <= DEMO_ORDER_COUNT; ordinal++) {
    const userId = demoUserId(random.intBetween(1, DEMO_USER_COUNT));
    const items = seededLines(random);
    const createdAtMs = SEED_START_MS + (ordinal - 1) * SEED_SLOT_MS + random.intBetween(0, SEED_SLOT_MS - 1);
    orders.push({
      id: `order-${ordinal}`,
      userId,
      items,
      totalCents: totalCentsOf(items),
      status: seededStatus(random, ordinal),
      createdAt: new Date(createdAtMs).toISOString(),
    });
  }
  return orders;
}

export function createOrderStore(stats: DataAccessStats): OrderStore {
  const ordersById = new Map<string, Order>();
  const ordersByUserId = new Map<string, Order[]>();
  const insert = (order: Order): void => {
    ordersById.set(order.id, order);
    const forUser = ordersByUserId.get(order.userId);
    if (forUser) forUser.push(order);
    else ordersByUserId.set(order.userId, [order]);
  };
  generateOrders().forEach(insert);
  let nextOrdinal = DEMO_ORDER_COUNT + 1;
  const events = new OrderEvents();
  const placedHere: Order[] = [];

  return {
    async findOrdersByIds(ids) {
      stats.recordBatch('ordersById', ids.length);
      return ids.map((id) => ordersById.get(id) ?? null);
    },
    async findOrdersByUserIds(userIds) {
      stats.recordBatch('ordersByUserId', userIds.length);
      // Copies, so that an order placed later does not grow a page a caller is still reading.
      return userIds.map((userId) => [...(ordersByUserId.get(userId) ?? [])]);
    },
    isKnownUser: isDemoUserId,
    unitPriceCents: (upc) => findCatalogueProduct(upc)?.priceCents,
    createOrder(userId, lines) {
      const order: Order = {
        id: `order-${nextOrdinal++}`,
        userId,
        items: lines.map((line) => ({ ...line })),
        totalCents: totalCentsOf(lines),
        status: 'PENDING',
        createdAt: new Date().toISOString(),
      };
      insert(order);
      placedHere.push(order);
      events.publish('created', order);
      return order;
    },
    cancelOrder(id) {
      const order = ordersById.get(id);
      if (!order) return { outcome: 'NOT_FOUND' };
      if (order.status === 'CANCELLED') return { outcome: 'ALREADY_CANCELLED', order };
      order.status = 'CANCELLED';
      events.publish('statusChanged', order);
      return { outcome: 'CANCELLED', order };
    },
    advanceOrder(id) {
      const order = ordersById.get(id);
      const next = order && NEXT_STATUS[order.status];
      if (!order || !next) return undefined;
      order.status = next;
      events.publish('statusChanged', order);
      return order;
    },
    ordersInFlight: () => placedHere.filter((order) => NEXT_STATUS[order.status] !== undefined),
    events,
  };
}
