import DataLoader from 'dataloader';
import type { Product, ProductStore } from './data.js';

export interface ProductsLoaders {
  productByUpc: DataLoader<string, Product | null>;
}

export interface ProductsContext {
  store: ProductStore;
  loaders: ProductsLoaders;
}

/** Fresh loaders per request, so one request's cache never serves another. */
export function createProductsContext(store: ProductStore): ProductsContext {
  return {
    store,
    loaders: { productByUpc: new DataLoader((upcs) => store.findProductsByUpcs(upcs)) },
  };
}
