import { catalogueProducts, centsToAmount, findCatalogueProduct, type CatalogueProduct } from '../shared/catalogue.js';
import type { DataAccessStats } from '../shared/stats.js';

export interface Product {
  readonly upc: string;
  readonly name: string;
  readonly price: number;
  readonly inStock: boolean;
}

function toProduct(entry: CatalogueProduct): Product {
  return { upc: entry.upc, name: entry.name, price: centsToAmount(entry.priceCents), inStock: entry.inStock };
}

/** The products data layer, read from the seeded catalogue. */
export interface ProductStore {
  /** Batch function (counted as `productsByUpc`): one result per upc, null for unknown ones. */
  findProductsByUpcs(upcs: readonly string[]): Promise<(Product | null)[]>;
  /** The first `count` products of the ranking; not a batch function, not counted. */
  topProducts(count: number): Product[];
  /** Sets a product's price (kept in this store only); null for an unknown upc. */
  setPrice(upc: string, price: number): Product | null;
}

export function createProductStore(stats: DataAccessStats): ProductStore {
  const prices = new Map<string, number>();
  const withPrice = (product: Product): Product => {
    const price = prices.get(product.upc);
    return price === undefined ? product : { ...product, price };
  };
  return {
    async findProductsByUpcs(upcs) {
      stats.recordBatch('productsByUpc', upcs.length);
      return upcs.map((upc) => {
        const entry = findCatalogueProduct(upc);
        return entry ? withPrice(toProduct(entry)) : null;
      });
    },
    topProducts: (count) =>
      catalogueProducts()
        .slice(0, count)
        .map((entry) => withPrice(toProduct(entry))),
    setPrice(upc, price) {
      const entry = findCatalogueProduct(upc);
      if (!entry) return null;
      prices.set(upc, price);
      return withPrice(toProduct(entry));
    },
  };
}
