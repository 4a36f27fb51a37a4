/**
 * Sizes and identifiers of the demo data set, shared by the subgraphs that must agree on them.
 *
 * The orders subgraph validates `CreateOrderInput.userId` against this id space instead of calling
 * the users subgraph: it stands for a replicated user directory. Users cannot be created through any
 * API, so the two can never disagree.
 */
export const DEMO_USER_COUNT = 5_000;
export const DEMO_PRODUCT_COUNT = 2_000;
export const DEMO_ORDER_COUNT = 20_000;

/** Seeds, one per data set. */
export const SEEDS = { users: 0x5eed_0001, products: 0x5eed_0002, orders: 0x5eed_0003 } as const;

export function demoUserId(ordinal: number): string {
  return `user-${ordinal}`;
}

export function isDemoUserId(id: string): boolean {
  const match = /^user-([1-9]\d*)$/.exec(id);
  return match !== null && Number(match[1]) <= DEMO_USER_COUNT;
}

export function demoUpc(ordinal: number): string {
  return `upc-${String(ordinal).padStart(4, '0')}`;
}
