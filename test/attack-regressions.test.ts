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

  it('codes Apollo\'s persisted-query request errors BAD_REQUEST (400), not INTERNAL_SERVER_ERROR', async () => {
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

  it('answers CONNECT with 405 METHOD_NOT_ALLOWED instead of dropping the connection silently', async () => {
    const response = await rawRequest(stack.gw.url, 'CONNECT example.com:443 HTTP/1.1\r\nhost: example.com:443\r\n\r\n');
    expect(response.status).toBe(405);
    expect(JSON.parse(response.body)).toMatchObject({ error: 'METHOD_NOT_ALLOWED', message: ERRORS.METHOD_NOT_ALLOWED.message });
    expect((await fetch(`${stack.gw.url}/health`)).status).toBe(200);
  });
});
