import { startOrdersSubgraph } from '../subgraphs/orders/index.js';
import { startProductsSubgraph } from '../subgraphs/products/index.js';
import { catalogueProducts } from '../subgraphs/shared/catalogue.js';
import { DEMO_USER_COUNT, demoUserId } from '../subgraphs/shared/demo-dataset.js';
import { startUsersSubgraph } from '../subgraphs/users/index.js';

/**
 * The three demo subgraphs in one process, for `npm run bench:subscriptions`. Prints
 * `{"urls": {...}}` when listening, then takes orders from its parent over IPC:
 * - `{ type: 'publish' }`: places one order now (the store publishes `orderCreated` synchronously)
 *   and answers `{ type: 'published', id, at }`, `at` the wall-clock time in milliseconds (with
 *   fractions, comparable across processes on this machine) just before the event was published;
 * - `{ type: 'subscribers' }`: answers `{ type: 'subscribers', count }`, the live subscriptions on the bus.
 */
const options = { host: '127.0.0.1', port: 0 };
const [users, orders, products] = await Promise.all([
  startUsersSubgraph(options),
  startOrdersSubgraph({ ...options, tickerMs: 0 }),
  startProductsSubgraph(options),
]);
const products3 = catalogueProducts().slice(0, 3);
let placed = 0;

const now = () => performance.timeOrigin + performance.now();
process.on('message', (message: { type?: string }) => {
  if (message.type === 'publish') {
    placed++;
    const userId = demoUserId((placed % DEMO_USER_COUNT) + 1);
    const lines = products3.map((product, i) => ({ upc: product.upc, quantity: i + 1, unitPriceCents: product.priceCents }));
    const at = now();
    const order = orders.store.createOrder(userId, lines);
    process.send?.({ type: 'published', id: order.id, at });
  } else if (message.type === 'subscribers') {
    process.send?.({ type: 'subscribers', count: orders.store.events.subscriberCount });
  }
});
process.on('SIGTERM', () => {
  void Promise.all([users.close(), orders.close(), products.close()]).finally(() => process.exit(0));
});
process.stdout.write(`${JSON.stringify({ urls: { users: users.url, orders: orders.url, products: products.url } })}\n`);
