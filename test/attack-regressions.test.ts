import { describe, expect, it } from 'vitest';
import { ERRORS } from '../gateway/src/errors.js';
import { postGraphql } from './helpers/gateway.js';
import { rawRequest } from './helpers/raw-http.js';
import { useDemoStack } from './helpers/subgraphs.js';

/** Bugs the attack test (test/attack.test.ts) found, one focused test each. */
const stack = useDemoStack();

describe('found by the attack test', () => {
  it('answers a Host header that is not a host name with 400 BAD_REQUEST, not a 500', async () => {
    const body = JSON.stringify({ query: '{ topProducts(first: 1) { upc } }' });
    for (const host of ['<script>', '😀', '\u202Eevil']) {
      const bytes = Buffer.from(
        `POST /graphql HTTP/1.1\r\nhost: ${host}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`,
        'utf8',
      );
      const response = await rawRequest(stack.gw.url, bytes);
      expect(response.status).toBe(400);
      expect(JSON.parse(response.body)).toEqual({
        errors: [{ message: 'The Host header is not a valid host name.', extensions: { code: 'BAD_REQUEST' } }],
      });
    }
    expect(stack.gw.logs.find((line) => line.msg === 'unhandled error')).toEqual([]);
  });

  it("codes Apollo's persisted-query request errors BAD_REQUEST (400), not INTERNAL_SERVER_ERROR", async () => {
    const query = '{ topProducts(first: 1) { upc } }';
    const cases = [
      { query, extensions: { persistedQuery: { version: 2, sha256Hash: 'a'.repeat(64) } } },
      { query, extensions: { persistedQuery: { version: 1, sha256Hash: 'deadbeef' } } },
      { extensions: { persistedQuery: 'x' } },
    ];
    for (const payload of cases) {
      const result = await postGraphql(stack.gw.graphqlUrl, payload as never);
      expect(result.status).toBe(400);
      expect(result.body.errors?.map((e) => e.extensions?.code)).toEqual(['BAD_REQUEST']);
    }
  });

  it('answers a body declared over the limit with a 413 the client can read: the connection is not cut mid-upload', async () => {
    const limit = stack.gw.gateway.config.server.bodyLimitBytes;
    const body = JSON.stringify({ query: `# ${'x'.repeat(limit + 200_000)}\n{ __typename }` });
    // Several at once, signed in (the auth hook takes time while the body is still arriving): with
    // Fastify's own check the 413 came with `connection: close`, the socket was reset while the
    // client was still writing, and fetch failed instead of seeing the 413, depending on timing.
    const answers = await Promise.all(
      Array.from({ length: 8 }, async () => {
        const response = await fetch(stack.gw.graphqlUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: 'Bearer not.a.token' },
          body,
        }).catch((error: Error) => error);
        if (response instanceof Error) return `network error: ${response.message}`;
        const json = (await response.json()) as { errors?: { extensions?: { code?: string } }[] };
        return `${response.status} ${json.errors?.[0]?.extensions?.code} connection=${response.headers.get('connection')}`;
      }),
    );
    expect(answers).toEqual(Array.from({ length: 8 }, () => '413 PAYLOAD_TOO_LARGE connection=keep-alive'));
    expect((await postGraphql(stack.gw.graphqlUrl, { query: '{ __typename }' })).status).toBe(200);
  });

  it('a request refused before execution (too many aliases) carries no UNAUTHORIZED_FIELD_OR_TYPE note', async () => {
    // Anonymous: `email` needs a signed-in caller, so the authorization filter removes it before the alias limit refuses the operation.
    const query = `{ ${Array.from({ length: 12 }, (_, i) => `a${i}: users(first: 1) { edges { node { name email } } }`).join(' ')} }`;
    const result = await postGraphql(stack.gw.graphqlUrl, { query });
    expect(result.status).toBe(400);
    expect(result.body.errors?.map((e) => e.extensions?.code)).toEqual(['MAX_ALIASES_EXCEEDED']);
  });

  it('answers CONNECT with 405 METHOD_NOT_ALLOWED instead of dropping the connection silently', async () => {
    const response = await rawRequest(stack.gw.url, 'CONNECT example.com:443 HTTP/1.1\r\nhost: example.com:443\r\n\r\n');
    expect(response.status).toBe(405);
    expect(JSON.parse(response.body)).toMatchObject({ error: 'METHOD_NOT_ALLOWED', message: ERRORS.METHOD_NOT_ALLOWED.message });
    expect((await fetch(`${stack.gw.url}/health`)).status).toBe(200);
  });
});
