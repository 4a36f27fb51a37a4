import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEV_ISSUER } from '../gateway/src/auth/dev-secret.js';
import { withEnforcedSecurityLinksUnmarked } from '../gateway/src/supergraph/security-links.js';
import { devBearer as signedIn } from './helpers/auth.js';
import { postGraphql, startTestGateway, type TestGateway } from './helpers/gateway.js';
import { useDemoStack } from './helpers/subgraphs.js';
import { composeTiny, startTinySubgraph, writeTinySupergraph, type TinySubgraph } from './helpers/tiny-subgraph.js';

const unauthorized = (path: string[]) => ({ message: expect.any(String), path, extensions: { code: 'UNAUTHORIZED_FIELD_OR_TYPE' } });

describe('@authenticated and @requiresScopes on the demo supergraph', () => {
  const stack = useDemoStack();

  const USER = '{ user(id: "user-1") { id name email orders(first: 1) { totalCount } } }';

  it('removes what an anonymous caller may not see, across subgraphs, and asks no subgraph for it', async () => {
    stack.subgraphs.orders.stats.reset();
    const result = await postGraphql(stack.gw.graphqlUrl, { query: USER }, { 'x-request-id': 'authz-anon' });
    expect(result.status).toBe(200);
    expect(result.body).toEqual({
      data: { user: { id: 'user-1', name: expect.any(String), email: null, orders: null } },
      errors: [unauthorized(['user', 'email']), unauthorized(['user', 'orders'])],
    });
    // User.orders is resolved by the orders subgraph inside a User from users: it was never asked.
    expect(stack.subgraphs.orders.stats.batch('ordersByUserId').calls).toBe(0);
    expect(stack.gw.logs.completed('authz-anon')[0]).toMatchObject({
      outcome: 'partial',
      errorCodes: ['UNAUTHORIZED_FIELD_OR_TYPE', 'UNAUTHORIZED_FIELD_OR_TYPE'],
    });
  });

  it('lets a signed-in user see their own orders but not the email without read:email', async () => {
    const result = await postGraphql(stack.gw.graphqlUrl, { query: USER }, await signedIn('user-1'));
    expect(result.body.errors).toEqual([unauthorized(['user', 'email'])]);
    const user = (result.body.data as { user: { email: unknown; orders: { totalCount: number } } }).user;
    expect(user.email).toBeNull();
    expect(user.orders.totalCount).toBeGreaterThan(0);
  });

  it('returns everything to a caller with the scope; another user gets the orders field but null (ownership)', async () => {
    const full = await postGraphql(stack.gw.graphqlUrl, { query: USER }, await signedIn('user-1', ['read:email']));
    expect(full.body.errors).toBeUndefined();
    expect((full.body.data as { user: { email: string } }).user.email).toContain('@');
    const other = await postGraphql(stack.gw.graphqlUrl, { query: USER }, await signedIn('user-2', ['read:email']));
    expect(other.body.errors).toBeUndefined();
    expect((other.body.data as { user: { orders: unknown } }).user.orders).toBeNull();
  });

  it('applies the rules inside named fragments, aliases and variables, and prunes the variables it no longer needs', async () => {
    const result = await postGraphql(stack.gw.graphqlUrl, {
      query: 'query($n: Int) { who: user(id: "user-1") { ...F } } fragment F on User { name mail: email orders(first: $n) { totalCount } }',
      variables: { n: 2 },
    });
    expect(result.status).toBe(200);
    expect(result.body.data).toEqual({ who: { name: expect.any(String), mail: null, orders: null } });
    expect(result.body.errors).toEqual([unauthorized(['who', 'mail']), unauthorized(['who', 'orders'])]);
  });

  it('does not serve one caller a query plan made for another (same document, different permissions)', async () => {
    const query = '{ user(id: "user-1") { name email } }';
    const withScope = await postGraphql(stack.gw.graphqlUrl, { query }, await signedIn('user-1', ['read:email']));
    const without = await postGraphql(stack.gw.graphqlUrl, { query }, await signedIn('user-1'));
    const withScopeAgain = await postGraphql(stack.gw.graphqlUrl, { query }, await signedIn('user-1', ['read:email']));
    expect((withScope.body.data as { user: { email: unknown } }).user.email).toContain('@');
    expect((without.body.data as { user: { email: unknown } }).user.email).toBeNull();
    expect(withScopeAgain.body).toEqual(withScope.body);
  });

  it('refuses an operation with nothing left: 401 for an anonymous caller, 403 for a signed-in one', async () => {
    const anonymous = await postGraphql(stack.gw.graphqlUrl, { query: '{ user(id: "user-1") { email } }' });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toBe('Bearer realm="gateway"');
    expect(anonymous.body.data).toBeUndefined();
    expect(anonymous.body.errors?.map((e) => e.extensions?.code)).toEqual(['UNAUTHENTICATED', 'UNAUTHORIZED_FIELD_OR_TYPE']);

    const signedInWithout = await postGraphql(stack.gw.graphqlUrl, { query: '{ user(id: "user-1") { email } }' }, await signedIn('user-1'));
    expect(signedInWithout.status).toBe(403);
    expect(signedInWithout.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });

  it('runs createOrder only for a signed-in caller with orders:write, and places it for that caller', async () => {
    const mutation = { query: 'mutation { createOrder(input: { items: [{ upc: "upc-0003", quantity: 1 }] }) { id user { id } } }' };
    const before = await ordersOf('user-9');

    const anonymous = await postGraphql(stack.gw.graphqlUrl, mutation, { 'x-user-id': 'user-9' });
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    const noScope = await postGraphql(stack.gw.graphqlUrl, mutation, await signedIn('user-9'));
    expect(noScope.status).toBe(403);
    expect(await ordersOf('user-9')).toBe(before);

    const allowed = await postGraphql(stack.gw.graphqlUrl, mutation, await signedIn('user-9', ['orders:write']));
    expect(allowed.body.errors).toBeUndefined();
    expect((allowed.body.data as { createOrder: { user: { id: string } } }).createOrder.user.id).toBe('user-9');
    expect(await ordersOf('user-9')).toBe(before + 1);
  });

  async function ordersOf(userId: string): Promise<number> {
    const result = await postGraphql(
      stack.gw.graphqlUrl,
      { query: `{ user(id: "${userId}") { orders(first: 0) { totalCount } } }` },
      await signedIn(userId),
    );
    return (result.body.data as { user: { orders: { totalCount: number } } }).user.orders.totalCount;
  }

  it('answers me from the token, whatever identity headers the client sends', async () => {
    const spoofed = {
      'x-user-id': 'user-2',
      'x-user-scopes': 'read:email orders:read:all',
      'x-user-tier': 'enterprise',
      'x-auth-kind': 'user',
    };
    const asUser1 = await postGraphql(stack.gw.graphqlUrl, { query: '{ me { id } }' }, { ...(await signedIn('user-1')), ...spoofed });
    expect(asUser1.body).toEqual({ data: { me: { id: 'user-1' } } });
    const anonymous = await postGraphql(stack.gw.graphqlUrl, { query: '{ me { id } }' }, spoofed);
    expect(anonymous.body).toEqual({ data: { me: null } });
    // The spoofed orders:read:all scope did not reach the orders subgraph either.
    const theirs = await postGraphql(
      stack.gw.graphqlUrl,
      { query: '{ user(id: "user-2") { orders(first: 1) { totalCount } } }' },
      {
        ...(await signedIn('user-1')),
        ...spoofed,
      },
    );
    expect(theirs.body).toEqual({ data: { user: { orders: null } } });
  });
});

describe('enforcement on any supergraph, including after a hot reload', () => {
  const SECURED = (extra = '') => `
    extend schema @link(url: "https://specs.apollo.dev/federation/v2.9",
      import: ["@key", "@authenticated", { name: "@requiresScopes", as: "@scopes" }])
    type Warehouse @key(fields: "code") {
      code: String!
      city: String!${extra}
      manager: String @scopes(scopes: [["read:staff"], ["admin"]])
      audit: Audit
      secretCode: String! @authenticated
    }
    type Audit @authenticated { lastCheck: String! }
    interface Place { label: String }
    type Depot implements Place { label: String @authenticated }
    type Shop implements Place { label: String }
    interface Entry { id: ID! }
    type Plain implements Entry { id: ID! }
    type Secret implements Entry @authenticated { id: ID!, value: String }
    type Note { text: String }
    union Finding = Audit | Note
    type Query { warehouses: [Warehouse!]!, slow(ms: Int!): String!, places: [Place!], findings: [Finding!], entries: [Entry] }
  `;
  const resolvers = {
    Query: {
      places: () => [
        { kind: 'Depot', label: 'north' },
        { kind: 'Shop', label: 'corner' },
      ],
      findings: () => [
        { kind: 'Audit', lastCheck: '2026-01-01' },
        { kind: 'Note', text: 'hi' },
      ],
      entries: () => [
        { kind: 'Plain', id: 'p1' },
        { kind: 'Secret', id: 's1', value: 'classified' },
      ],
    },
    Place: { __resolveType: (place: { kind: string }) => place.kind },
    Finding: { __resolveType: (finding: { kind: string }) => finding.kind },
    Entry: { __resolveType: (entry: { kind: string }) => entry.kind },
    Warehouse: { manager: () => 'Ada', audit: () => ({ lastCheck: '2026-01-01' }), secretCode: () => 's3cr3t', capacity: () => 10 },
  };
  let subgraph: TinySubgraph;
  let gw: TestGateway;
  let path: string;

  beforeAll(async () => {
    subgraph = await startTinySubgraph({ sdl: SECURED('\n      capacity: Int! @scopes(scopes: [["read:capacity"]])'), resolvers });
    path = writeTinySupergraph(subgraph.url, SECURED());
    // @apollo/composition copies an implementation's type-level rule onto the interface; another
    // composer (or a hand-written supergraph) may not, and the gateway must still guard the interface.
    const composed = readFileSync(path, 'utf8');
    const unpropagated = composed.replace(/(interface Entry\n\s+@join__type\([^)]*\))\n\s+@authenticated/, '$1');
    expect(unpropagated).not.toBe(composed);
    writeFileSync(path, unpropagated);
    gw = await startTestGateway({
      supergraph: { path, watch: true, pollIntervalMs: 50 },
      auth: { jwt: { issuers: [DEV_ISSUER] } },
    });
  });

  afterAll(async () => {
    await gw?.close();
    await subgraph?.close();
  });

  it('loads a supergraph that links the security specs for: SECURITY (which bare @apollo/gateway refuses)', () => {
    const sdl = composeTiny(subgraph.url, SECURED());
    expect(sdl).toMatch(/requiresScopes\/v0\.1", for: SECURITY/);
    const unmarked = withEnforcedSecurityLinksUnmarked(sdl);
    expect(unmarked).not.toContain('for: SECURITY');
    expect(unmarked).toContain('@scopes(scopes: [["read:staff"], ["admin"]])');
    // A security link the gateway does not enforce keeps its purpose, so the gateway still refuses it.
    const policy = sdl.replace(
      '@link(url: "https://specs.apollo.dev/link/v1.0")',
      '@link(url: "https://specs.apollo.dev/link/v1.0")\n  @link(url: "https://specs.apollo.dev/policy/v0.1", for: SECURITY)',
    );
    expect(withEnforcedSecurityLinksUnmarked(policy)).toContain('policy/v0.1", for: SECURITY');
  });

  it('resolves directive names through @link imports (as:), with OR-of-AND scopes and type-level rules', async () => {
    const query = { query: '{ warehouses { code manager audit { lastCheck } } }' };
    const anonymous = await postGraphql(gw.graphqlUrl, query);
    expect(anonymous.body).toEqual({
      data: {
        warehouses: [
          { code: 'AMS', manager: null, audit: null },
          { code: 'LIS', manager: null, audit: null },
        ],
      },
      errors: [unauthorized(['warehouses', 'manager']), unauthorized(['warehouses', 'audit'])],
    });
    const admin = await postGraphql(gw.graphqlUrl, query, await signedIn('u', ['admin']));
    expect(admin.body).toEqual({
      data: { warehouses: [1, 2].map((i) => ({ code: i === 1 ? 'AMS' : 'LIS', manager: 'Ada', audit: { lastCheck: '2026-01-01' } })) },
    });
  });

  it('removes a fragment on a type the caller may not see, also when that type is reached through a union', async () => {
    const query = { query: '{ findings { __typename ... on Audit { lastCheck } ... on Note { text } } }' };
    const anonymous = await postGraphql(gw.graphqlUrl, query);
    expect(anonymous.body).toEqual({
      data: { findings: [{ __typename: 'Audit' }, { __typename: 'Note', text: 'hi' }] },
      errors: [unauthorized(['findings'])],
    });
    // Through a named fragment too (nothing else is selected, so nothing is left: 401).
    const named = await postGraphql(gw.graphqlUrl, { query: '{ findings { ...A } } fragment A on Audit { lastCheck }' });
    expect(named.status).toBe(401);
    expect(JSON.stringify(named.body)).not.toContain('2026-01-01');
    const signed = await postGraphql(gw.graphqlUrl, query, await signedIn('u'));
    expect(signed.body).toEqual({
      data: {
        findings: [
          { __typename: 'Audit', lastCheck: '2026-01-01' },
          { __typename: 'Note', text: 'hi' },
        ],
      },
    });
  });

  it('protects an interface field when an implementing type is protected as a whole', async () => {
    const anonymous = await postGraphql(gw.graphqlUrl, { query: '{ entries { __typename id } }' });
    expect(anonymous.status).toBe(401);
    expect(JSON.stringify(anonymous.body)).not.toContain('s1');
    const signed = await postGraphql(gw.graphqlUrl, { query: '{ entries { id ... on Secret { value } } }' }, await signedIn('u'));
    expect(signed.body).toEqual({ data: { entries: [{ id: 'p1' }, { id: 's1', value: 'classified' }] } });
  });

  it('protects an interface field when any implementation protects it', async () => {
    const query = { query: '{ places { __typename label } }' };
    const anonymous = await postGraphql(gw.graphqlUrl, query);
    expect(anonymous.body).toEqual({
      data: {
        places: [
          { __typename: 'Depot', label: null },
          { __typename: 'Shop', label: null },
        ],
      },
      errors: [unauthorized(['places', 'label'])],
    });
    const signed = await postGraphql(gw.graphqlUrl, query, await signedIn('u'));
    expect(signed.body).toEqual({
      data: {
        places: [
          { __typename: 'Depot', label: 'north' },
          { __typename: 'Shop', label: 'corner' },
        ],
      },
    });
  });

  it('propagates a removed non-null field to its nearest nullable ancestor (here: the whole data, so it is refused)', async () => {
    const result = await postGraphql(gw.graphqlUrl, { query: '{ slow(ms: 1) warehouses { code secretCode } }' });
    expect(result.status).toBe(401);
    expect(result.body.errors?.map((e) => e.extensions?.code)).toEqual(['UNAUTHENTICATED', 'UNAUTHORIZED_FIELD_OR_TYPE']);
    const signed = await postGraphql(gw.graphqlUrl, { query: '{ warehouses { code secretCode } }' }, await signedIn('u'));
    expect(signed.body.errors).toBeUndefined();
  });

  it('enforces the directives of a reloaded supergraph', async () => {
    writeFileSync(path, composeTiny(subgraph.url, SECURED('\n      capacity: Int! @scopes(scopes: [["read:capacity"]])')));
    const query = { query: '{ warehouses { code capacity } }' };
    const headers = await signedIn('u', ['admin']);
    let result = await postGraphql(gw.graphqlUrl, query, headers);
    while (result.body.errors?.[0]?.extensions?.code === 'GRAPHQL_VALIDATION_FAILED') {
      await new Promise((resolve) => setTimeout(resolve, 25));
      result = await postGraphql(gw.graphqlUrl, query, headers);
    }
    expect(result.status).toBe(403);
    expect(result.body.errors?.map((e) => e.extensions?.code)).toEqual(['FORBIDDEN', 'UNAUTHORIZED_FIELD_OR_TYPE']);
    const allowed = await postGraphql(gw.graphqlUrl, query, await signedIn('u', ['read:capacity']));
    expect(allowed.body).toEqual({
      data: {
        warehouses: [
          { code: 'AMS', capacity: 10 },
          { code: 'LIS', capacity: 10 },
        ],
      },
    });
  });

  it('refuses to reload a supergraph with a security link it does not enforce (@policy), and keeps enforcing the old one', async () => {
    const failures = async () =>
      (await gw.gateway.metrics.supergraphReloads.get()).values.find((v) => v.labels.result === 'failure')?.value ?? 0;
    const before = await failures();
    const withPolicy = composeTiny(subgraph.url, SECURED('\n      capacity: Int! @scopes(scopes: [["read:capacity"]])')).replace(
      '@link(url: "https://specs.apollo.dev/link/v1.0")',
      '@link(url: "https://specs.apollo.dev/link/v1.0")\n  @link(url: "https://specs.apollo.dev/policy/v0.1", for: SECURITY)',
    );
    writeFileSync(path, withPolicy);
    while ((await failures()) === before) await new Promise((resolve) => setTimeout(resolve, 25));
    expect(gw.logs.find((l) => l.msg === 'supergraph reload failed; the previous supergraph keeps serving').at(-1)?.err).toContain(
      'policy',
    );
    const result = await postGraphql(gw.graphqlUrl, { query: '{ warehouses { code capacity } }' });
    expect(result.status).toBe(401);
  });
});
