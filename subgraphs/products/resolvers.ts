import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/index.js';
import { validatePageSize } from '../shared/relay.js';
import type { Product } from './data.js';
import type { ProductsContext } from './loaders.js';

const DEFAULT_TOP_PRODUCTS = 5;

export const productsResolvers: GraphQLResolverMap<ProductsContext> = {
  Query: {
    topProducts: (_root: unknown, args: { first?: number | null }, context: ProductsContext) =>
      context.store.topProducts(validatePageSize(args.first, DEFAULT_TOP_PRODUCTS)),
    product: (_root: unknown, args: { upc: string }, context: ProductsContext) => context.loaders.productByUpc.load(args.upc),
  },
  Mutation: {
    updateProductPrice: (_root: unknown, args: { upc: string; price: number }, context: ProductsContext) =>
      context.store.setPrice(args.upc, args.price),
  },
  Product: {
    __resolveReference: (reference: Pick<Product, 'upc'>, context: ProductsContext) => context.loaders.productByUpc.load(reference.upc),
  },
};
