import { describe, expect, it } from 'vitest';
import { fetchPolicy, policyFromHeader, UNCACHEABLE } from '../gateway/src/subgraph/cache-policy.js';
import { cacheSchemaOf } from '../gateway/src/subgraph/cache-schema.js';
import { readFileSync } from 'node:fs';
import { DEMO_SUPERGRAPH } from './helpers/subgraphs.js';

const schema = cacheSchemaOf(readFileSync(DEMO_SUPERGRAPH, 'utf8'));
const policy = (header: string | undefined, subjects: { field?: string; type?: string }[], overrides = {}) =>
  fetchPolicy({ header, subjects, overrides, schema, defaultStaleWhileRevalidate: 0 });

describe('the policy of a subgraph answer', () => {
  it("reads the subgraph's Cache-Control: s-maxage over max-age, private, no-store, stale-while-revalidate", () => {
    expect(policyFromHeader('max-age=30, public')).toMatchObject({ maxAge: 30, scope: 'PUBLIC' });
    expect(policyFromHeader('max-age=30, s-maxage=120')).toMatchObject({ maxAge: 120, scope: 'PUBLIC' });
    expect(policyFromHeader('private, max-age=10')).toMatchObject({ maxAge: 10, scope: 'PRIVATE' });
    expect(policyFromHeader('max-age=10, stale-while-revalidate=5')).toMatchObject({ maxAge: 10, staleWhileRevalidate: 5 });
    expect(policyFromHeader('no-store, max-age=10')).toMatchObject({ maxAge: 0 });
    expect(policyFromHeader(undefined)).toBeUndefined();
  });

  it('reads the @cacheControl hints the demo supergraph carries after composition', () => {
    expect(schema.hints.get('Product')).toEqual({ maxAge: 60 });
    expect(schema.hints.get('Query.topProducts')).toEqual({ maxAge: 30 });
    expect(schema.keys.get('Product')).toEqual([['upc']]);
    expect(schema.rootFieldTypes.get('Mutation.updateProductPrice')).toBe('Product');
  });

  it('takes the most restrictive of header and supergraph hints, and the hints alone without a header', () => {
    const topProducts = [{ field: 'Query.topProducts', type: 'Product' }];
    expect(policy('max-age=300, public', topProducts)).toMatchObject({ maxAge: 30, scope: 'PUBLIC' });
    expect(policy('max-age=10, private', topProducts)).toMatchObject({ maxAge: 10, scope: 'PRIVATE' });
    expect(policy(undefined, [{ type: 'Product' }])).toMatchObject({ maxAge: 60 });
    expect(policy('no-store', topProducts).maxAge).toBe(0);
    // No hint anywhere (users has none) and no header: uncacheable.
    expect(policy(undefined, [{ field: 'Query.user', type: 'User' }])).toEqual(UNCACHEABLE);
  });

  it('lets config overrides decide when they cover every subject, and only restrict otherwise', () => {
    const topProducts = [{ field: 'Query.topProducts', type: 'Product' }];
    expect(policy('max-age=30, public', topProducts, { 'Query.topProducts': { maxAge: 600 } })).toMatchObject({ maxAge: 600 });
    expect(policy('max-age=30, public', topProducts, { Product: { maxAge: 5, scope: 'PRIVATE' } })).toMatchObject({
      maxAge: 5,
      scope: 'PRIVATE',
    });
    const both = [...topProducts, { field: 'Query.user', type: 'User' }];
    expect(policy('max-age=30, public', both, { 'Query.topProducts': { maxAge: 600 } })).toMatchObject({ maxAge: 30 });
  });
});
