import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { DEV_ISSUER, DEV_JWT_AUDIENCE, DEV_JWT_ISSUER, DEV_JWT_SECRET } from '../gateway/src/auth/dev-secret.js';
import type { GatewayConfigInput } from '../gateway/src/config/index.js';
import { secretBytes, sign } from './helpers/auth.js';
import { startEchoSubgraph, writeEchoSupergraph, type EchoSubgraph } from './helpers/echo-subgraph.js';
import { postGraphql, startTestGateway, type TestGateway } from './helpers/gateway.js';

/** The header page of the manual: its complete example is run here, and what it shows is what the subgraphs received. */
const page = readFileSync(new URL('../docs/headers.md', import.meta.url), 'utf8');
const block = (lang: string, after: string) =>
  new RegExp('```' + lang + '\\n([\\s\\S]+?)\\n```').exec(page.slice(page.indexOf(after)))?.[1];

let accounts: EchoSubgraph;
let products: EchoSubgraph;
let gw: TestGateway;

beforeAll(async () => {
  [accounts, products] = await Promise.all([startEchoSubgraph('accounts'), startEchoSubgraph('products')]);
  accounts.responseHeaders = { 'set-cookie': 'session=s1; Path=/; HttpOnly', 'x-accounts-version': '42', 'x-internal-node': 'acc-3' };
  products.responseHeaders = { 'set-cookie': 'cart=c7; Path=/', 'x-accounts-version': '0' };
  const example = parseYaml(block('yaml', '## A complete example') ?? '') as GatewayConfigInput;
  gw = await startTestGateway({
    ...example,
    supergraph: { path: writeEchoSupergraph([accounts, products]), watch: false },
    auth: { jwt: { issuers: [DEV_ISSUER] } },
  });
});

afterAll(async () => {
  await gw?.close();
  await Promise.all([accounts?.close(), products?.close()]);
});

describe('the complete example of docs/headers.md', () => {
  it('shows what each subgraph received and the headers the client got', async () => {
    const token = await sign(secretBytes(DEV_JWT_SECRET), {
      issuer: DEV_JWT_ISSUER,
      audience: DEV_JWT_AUDIENCE,
      subject: 'alice',
      claims: { tier: 'pro', scope: 'orders:read profile:read', org: 'acme' },
    });
    const result = await postGraphql(
      gw.graphqlUrl,
      { query: '{ accountsHeaders productsHeaders }' },
      {
        authorization: `Bearer ${token}`,
        'accept-language': 'pt-PT',
        'x-tenant': 'acme-eu',
        'x-flag-beta': 'on',
        'x-flag-internal': 'yes',
        'x-user-id': 'mallory',
        'x-request-id': 'docs-example-1',
      },
    );
    const data = result.body.data as { accountsHeaders: string; productsHeaders: string };
    const shown = (received: string) => {
      const { host: _host, ...headers } = JSON.parse(received) as Record<string, string>;
      if (headers.authorization) headers.authorization = 'Bearer $TOKEN';
      return JSON.stringify(Object.fromEntries(Object.entries(headers).sort(([a], [b]) => a.localeCompare(b))), null, 2);
    };
    expect(shown(data.accountsHeaders)).toBe(block('json', 'What `accounts` received'));
    expect(shown(data.productsHeaders)).toBe(block('json', 'What `products` received'));
    const answer = [
      ...result.headers
        .getSetCookie()
        .sort()
        .map((line) => `set-cookie: ${line}`),
      `x-accounts-version: ${result.headers.get('x-accounts-version')}`,
      `x-internal-node: ${result.headers.get('x-internal-node')}`,
    ].join('\n');
    expect(answer).toBe(block('http', 'What the client got'));
  });
});
