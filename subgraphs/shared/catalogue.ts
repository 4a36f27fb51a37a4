import { createSeededRandom } from './prng.js';
import { DEMO_PRODUCT_COUNT, SEEDS, demoUpc } from './demo-dataset.js';

/**
 * The product catalogue, generated from a fixed seed. The products subgraph serves it; the orders
 * subgraph reads prices from it to snapshot `LineItem.unitPrice`. That shared read stands for a
 * replicated price book: in a real system orders would consume price updates from the catalogue
 * service rather than call it on every order.
 */
export interface CatalogueProduct {
  readonly upc: string;
  readonly name: string;
  /** Prices are kept in integer cents so that totals never pick up floating-point noise. */
  readonly priceCents: number;
  readonly inStock: boolean;
}

const ADJECTIVES = [
  'Classic',
  'Compact',
  'Deluxe',
  'Ergonomic',
  'Portable',
  'Rugged',
  'Sleek',
  'Smart',
  'Vintage',
  'Wireless',
  'Organic',
  'Heavy-Duty',
  'Minimal',
  'Premium',
  'Foldable',
  'Solar',
] as const;
const MATERIALS = ['Bamboo', 'Steel', 'Cotton', 'Ceramic', 'Oak', 'Aluminium', 'Leather', 'Glass', 'Carbon', 'Wool'] as const;
const NOUNS = [
  'Backpack',
  'Kettle',
  'Lamp',
  'Headphones',
  'Chair',
  'Notebook',
  'Water Bottle',
  'Keyboard',
  'Blanket',
  'Mug',
  'Tent',
  'Speaker',
  'Watch',
  'Desk',
  'Jacket',
  'Bicycle Bell',
  'Frying Pan',
] as const;

function generateCatalogue(): readonly CatalogueProduct[] {
  const random = createSeededRandom(SEEDS.products);
  const products: CatalogueProduct[] = [];
  for (let ordinal = 1; ordinal <= DEMO_PRODUCT_COUNT; ordinal++) {
    products.push(
      Object.freeze({
        upc: demoUpc(ordinal),
        name: `${random.pick(ADJECTIVES)} ${random.pick(MATERIALS)} ${random.pick(NOUNS)}`,
        priceCents: random.intBetween(199, 49_999),
        inStock: random.chance(0.85),
      }),
    );
  }
  return Object.freeze(products);
}

let catalogue: readonly CatalogueProduct[] | undefined;
let catalogueByUpc: ReadonlyMap<string, CatalogueProduct> | undefined;

/** All products, in catalogue order (which is also the "top products" ranking). */
export function catalogueProducts(): readonly CatalogueProduct[] {
  catalogue ??= generateCatalogue();
  return catalogue;
}

export function findCatalogueProduct(upc: string): CatalogueProduct | undefined {
  catalogueByUpc ??= new Map(catalogueProducts().map((product) => [product.upc, product]));
  return catalogueByUpc.get(upc);
}

export function centsToAmount(cents: number): number {
  return cents / 100;
}
