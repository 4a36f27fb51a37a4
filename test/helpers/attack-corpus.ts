import { gzipSync } from 'node:zlib';
import { generateKeyPair, SignJWT } from 'jose';
import { DEV_JWT_AUDIENCE, DEV_JWT_ISSUER, DEV_JWT_SECRET } from '../../gateway/src/auth/dev-secret.js';
import { unsignedToken } from './auth.js';

/**
 * The attack corpus of test/attack.test.ts: a deterministic, seeded generator of hostile requests.
 * Every request here must be refused with a 4xx and a registered error code (see docs/security.md,
 * "The attack test", for the one deliberate 200). A request is either sent with fetch (`http`) or,
 * where undici refuses to send it (NUL bytes, non-latin1 header values, unknown methods, oversized
 * header blocks), as raw bytes over a socket (`raw`).
 */
export type AttackRequest =
  | { kind: string; transport: 'http'; method: string; path: string; headers: Record<string, string>; body?: string | Buffer }
  | { kind: string; transport: 'raw'; bytes: Buffer };

/** mulberry32: small, fast, and the same sequence on every machine for a given seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export interface Tokens {
  /** A valid token of the attacker's own (depth and alias attacks are tried signed in too). */
  attacker: string;
  forged: Record<string, string>;
}

/** Forged and broken JWTs, each refused for a different reason. */
export async function forgedTokens(): Promise<Tokens> {
  const now = Math.floor(Date.now() / 1000);
  const devKey = new TextEncoder().encode(DEV_JWT_SECRET);
  const otherKey = new TextEncoder().encode('another-secret-that-is-long-enough-to-sign-with');
  const base = (claims: Record<string, unknown> = {}) =>
    new SignJWT({ scope: 'orders:read orders:write read:email', ...claims })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuer(DEV_JWT_ISSUER)
      .setAudience(DEV_JWT_AUDIENCE)
      .setSubject('attacker')
      .setIssuedAt(now);
  const rsa = await generateKeyPair('RS256');
  const rsToken = await new SignJWT({ sub: 'attacker' })
    .setProtectedHeader({ alg: 'RS256' })
    .setIssuer(DEV_JWT_ISSUER)
    .setAudience(DEV_JWT_AUDIENCE)
    .setExpirationTime(now + 300)
    .sign(rsa.privateKey);
  const valid = await base()
    .setExpirationTime(now + 3_600)
    .sign(devKey);
  const [header, payload] = valid.split('.');
  const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return {
    attacker: valid,
    forged: {
      algNone: unsignedToken({ sub: 'admin', iss: DEV_JWT_ISSUER, aud: DEV_JWT_AUDIENCE, exp: now + 300, tier: 'enterprise' }),
      algNoneUpper: `${b64({ alg: 'NONE', typ: 'JWT' })}.${payload}.`,
      wrongKey: await base()
        .setExpirationTime(now + 300)
        .sign(otherKey),
      // HS/RS confusion: an RS256 token for an HS256-only issuer, and an HS256 token "signed" with a public-key-shaped secret.
      rsForHsIssuer: rsToken,
      hsWithPemSecret: await base()
        .setExpirationTime(now + 300)
        .sign(
          new TextEncoder().encode('-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n-----END PUBLIC KEY-----'),
        ),
      expired: await base()
        .setExpirationTime(now - 3_600)
        .sign(devKey),
      notYetValid: await base()
        .setNotBefore(now + 3_600)
        .setExpirationTime(now + 7_200)
        .sign(devKey),
      wrongIssuer: await base()
        .setIssuer('https://evil.example')
        .setExpirationTime(now + 300)
        .sign(devKey),
      wrongAudience: await base()
        .setAudience('someone-else')
        .setExpirationTime(now + 300)
        .sign(devKey),
      noExp: await base().sign(devKey),
      tamperedPayload: `${header}.${b64({ sub: 'admin', iss: DEV_JWT_ISSUER, aud: DEV_JWT_AUDIENCE, exp: now + 300, tier: 'enterprise' })}.${valid.split('.')[2]}`,
      garbageBase64: '!!!.@@@.###',
      notBase64Json: `${Buffer.from('not json').toString('base64url')}.${Buffer.from('{').toString('base64url')}.sig`,
      twoParts: `${header}.${payload}`,
      empty: '',
      oversized: `${header}.${'A'.repeat(9_000)}.${valid.split('.')[2]}`,
      jsonHeaderArrayAlg: `${b64({ alg: ['HS256'], typ: 'JWT' })}.${payload}.${valid.split('.')[2]}`,
      kidInjection: `${b64({ alg: 'HS256', kid: '../../../../dev/null' })}.${payload}.${valid.split('.')[2]}`,
    },
  };
}

const DEMO_QUERY = '{ topProducts(first: 2) { upc name } }';
const GRAPHQL_HEADERS = { 'content-type': 'application/json' };

function post(kind: string, body: string | Buffer, headers: Record<string, string> = {}): AttackRequest {
  return { kind, transport: 'http', method: 'POST', path: '/graphql', headers: { ...GRAPHQL_HEADERS, ...headers }, body };
}
const postJson = (kind: string, value: unknown, headers: Record<string, string> = {}) => post(kind, JSON.stringify(value), headers);

function raw(kind: string, head: string, body: string | Buffer = ''): AttackRequest {
  const bodyBytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const withLength = bodyBytes.length > 0 || /^POST /.test(head) ? `${head}content-length: ${bodyBytes.length}\r\n` : head;
  return { kind, transport: 'raw', bytes: Buffer.concat([Buffer.from(`${withLength}connection: close\r\n\r\n`, 'latin1'), bodyBytes]) };
}
const rawUtf8 = (kind: string, head: string, body = '') =>
  ({
    kind,
    transport: 'raw',
    bytes: Buffer.concat([
      Buffer.from(`${head}content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n`, 'utf8'),
      Buffer.from(body),
    ]),
  }) as AttackRequest;

const WEIRD = [
  '\u202Eevil\u202C',
  '😀💥',
  'a\u0000b',
  '\uFEFFbom',
  'Ω≈ç√∫',
  '\u0301\u0301\u0301',
  '𝕬𝖇𝖈',
  'اختبار',
  '\uD800',
  ' ',
  '\u2028\u2029',
  '<script>alert(1)</script>',
  "' OR 1=1 --",
  '${jndi:ldap://x}',
];

/** Every family of attack, each a function of the random source (and the request's number). */
export function attackFamilies(tokens: Tokens, bodyLimit: number): ((rng: () => number, n: number) => AttackRequest)[] {
  const pick = <T>(rng: () => number, items: readonly T[]): T => items[Math.floor(rng() * items.length)] as T;
  const int = (rng: () => number, min: number, max: number) => min + Math.floor(rng() * (max - min + 1));
  const forged = Object.entries(tokens.forged);

  return [
    // The HTTP edge: oversized bodies sent in full, header bombs, framing, codings, charsets, duplicates.
    (rng) => httpEdgeAttack(rng, bodyLimit),
    // Malformed JSON and wrong types.
    (rng) => {
      const valid = JSON.stringify({ query: DEMO_QUERY });
      const bodies = [
        valid.slice(0, int(rng, 1, valid.length - 1)),
        '{"query": 123}',
        '{"query": ["{ topProducts { upc } }"]}',
        '{"query": {"kind": "Document"}}',
        '{"query": true}',
        `{"query": "${DEMO_QUERY}", "variables": "not json"}`,
        `{"query": "${DEMO_QUERY}", "variables": [1, 2]}`,
        `{"query": "${DEMO_QUERY}", "variables": 7}`,
        `{"query": "${DEMO_QUERY}", "operationName": 5}`,
        `{"query": "${DEMO_QUERY}", "operationName": ["a"]}`,
        `{"query": "${DEMO_QUERY}", "extensions": 7}`,
        `{"query": "${DEMO_QUERY}", "extensions": "x"}`,
        `{"query": "${DEMO_QUERY}", "extensions": [1]}`,
        `{"query": "{ nope }", "query": "{ alsoNope }"}`,
        `{"__proto__": {"query": "${DEMO_QUERY}"}}`,
        `{"constructor": {"prototype": {"query": "x"}}}`,
        '',
        'null',
        '"just a string"',
        '42',
        'true',
        '{',
        '{"query": "{ topProducts { upc } }"',
        "{'query': '{ topProducts { upc } }'}",
        '{"query": "\\ud800"}',
        '{"query": 1e99999}',
        `{"query": "query($n: Int) { topProducts(first: $n) { upc } }", "variables": {"n": 1e400}}`,
        `{"query": "query($n: Int) { topProducts(first: $n) { upc } }", "variables": {"n": 123456789012345678901234567890}}`,
        `${'['.repeat(int(rng, 1_000, 20_000))}${']'.repeat(int(rng, 1_000, 20_000))}`,
        `{"query": "{ nope }", "variables": ${'{"a":'.repeat(5_000)}1${'}'.repeat(5_000)}}`,
        `{"query": "{ nope }", "variables": ${'{"a":'.repeat(3_000)}1}`,
      ];
      return post('malformed-json', pick(rng, bodies));
    },
    // Invalid UTF-8 and binary bodies.
    (rng) => {
      const bytes = Buffer.alloc(int(rng, 1, 512));
      for (let i = 0; i < bytes.length; i++) bytes[i] = int(rng, 0, 255);
      const framed = Buffer.concat([Buffer.from('{"query": "'), Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0xa0, 0xa1]), Buffer.from('"}')]);
      return post('binary-body', rng() < 0.5 ? bytes : framed);
    },
    // Huge strings: near the body limit (valid JSON, invalid operation) and over it (413).
    (rng) => {
      // Mostly tens of kilobytes; one in four near the limit, one in four over it (413).
      const roll = rng();
      const over = roll < 0.25;
      const size = over ? bodyLimit + int(rng, 1, 4_096) : roll < 0.5 ? bodyLimit - 200 - int(rng, 0, 1_000) : int(rng, 10_000, 100_000);
      const filler = 'A'.repeat(Math.max(0, size));
      const shape = pick(rng, ['arg', 'opname', 'variable', 'comment']);
      const value =
        shape === 'arg'
          ? { query: `{ nope(x: "${filler}") }` }
          : shape === 'opname'
            ? { query: DEMO_QUERY, operationName: filler }
            : shape === 'variable'
              ? { query: 'query($upc: String!) { product(upc: $upc) { nope } }', variables: { upc: filler } }
              : { query: `# ${filler}\n{ nope }` };
      return postJson(over ? 'huge-over-limit' : 'huge-near-limit', value);
    },
    // Deeply nested selections (anonymous and signed in), and raw brace nesting.
    (rng) => {
      const depth = int(rng, 12, 60);
      let selection = 'id';
      for (let i = 0; i < depth; i++)
        selection =
          i % 2 === 0 ? `orders { edges { node { user { ${selection} } } } }` : `user { orders { edges { node { ${selection} } } } }`;
      const variants = [
        { query: `{ users(first: 1) { edges { node { ${selection} } } } }` },
        { query: `{ ${'a { '.repeat(depth * 10)}b${' }'.repeat(depth * 10)} }` },
        { query: `${'{'.repeat(int(rng, 500, 5_000))}` },
      ];
      const headers: Record<string, string> = rng() < 0.5 ? { authorization: `Bearer ${tokens.attacker}` } : {};
      return postJson('deep-nesting', pick(rng, variants), headers);
    },
    // Alias bombs.
    (rng) => {
      const count = int(rng, 11, 400);
      const field = pick(rng, [
        'topProducts(first: 100) { upc name price inStock }',
        'users(first: 100) { edges { node { name email } } }',
        '__typename',
      ]);
      const query = `{ ${Array.from({ length: count }, (_, i) => `a${i}: ${field}`).join(' ')} }`;
      return postJson('alias-bomb', { query }, rng() < 0.5 ? { authorization: `Bearer ${tokens.attacker}` } : {});
    },
    // Fragment cycles and fragment spread bombs (each level doubles the expanded size).
    (rng) => {
      const levels = int(rng, 8, 30);
      const bomb = [
        `query { ...F0 }`,
        ...Array.from({ length: levels }, (_, i) =>
          // Each level doubles the naive expansion and adds one root field: valid, so every walker
          // sees it, and refused for its root fields (MAX_ROOT_FIELDS_EXCEEDED), not for its size.
          i === levels - 1
            ? `fragment F${i} on Query { r${i}: topProducts(first: 1) { upc } }`
            : `fragment F${i} on Query { ...F${i + 1} ...F${i + 1} r${i}: topProducts(first: 1) { upc } }`,
        ),
      ].join('\n');
      const cycle = 'query { ...A } fragment A on Query { ...B topProducts { upc } } fragment B on Query { ...A }';
      const selfCycle = 'query { ...A } fragment A on Query { ...A }';
      const wide = [
        'query { ...W0 }',
        ...Array.from({ length: levels }, (_, i) =>
          i === levels - 1
            ? `fragment W${i} on Query { topProducts { upc } }`
            : `fragment W${i} on Query { topProducts { ...P${i} } ...W${i + 1} } fragment P${i} on Product { upc name }`,
        ),
      ].join('\n');
      return postJson('fragments', { query: pick(rng, [bomb, cycle, selfCycle, wide]) });
    },
    // Directive floods and too many tokens.
    (rng) => {
      const n = int(rng, 51, 600);
      const variants = [
        `{ topProducts ${'@include(if: true) '.repeat(n)}{ upc } }`,
        `{ topProducts { ${'upc @skip(if: false) '.repeat(n)} } }`,
        `{ topProducts { ${'upc '.repeat(Math.max(n * 4, 1_100))} } }`,
        `{ topProducts(first: 1) { ${Array.from({ length: n * 2 }, (_, i) => `f${i}`).join(' ')} } }`,
        `query Q(${Array.from({ length: n }, (_, i) => `$v${i}: Int`).join(' ')}) { topProducts { upc } }`,
        `{ topProducts @nope(a: 1) @unknown { upc } }`,
      ];
      return postJson('directives-tokens', { query: pick(rng, variants) });
    },
    // Invalid variables of every input type in the demo schema.
    (rng) => {
      const cases: [string, unknown][] = [
        ['query($n: Int) { topProducts(first: $n) { upc } }', { n: 2 ** 31 }],
        ['query($n: Int) { topProducts(first: $n) { upc } }', { n: -(2 ** 31) - 1 }],
        ['query($n: Int) { topProducts(first: $n) { upc } }', { n: 1.5 }],
        ['query($n: Int) { topProducts(first: $n) { upc } }', { n: '3' }],
        ['query($n: Int) { topProducts(first: $n) { upc } }', { n: true }],
        ['query($n: Int) { topProducts(first: $n) { upc } }', { n: [1] }],
        ['query($n: Int) { topProducts(first: $n) { upc } }', { n: { value: 1 } }],
        ['query($n: Int) { topProducts(first: $n) { upc } }', { n: 101 }],
        ['query($n: Int) { topProducts(first: $n) { upc } }', { n: -1 }],
        ['query($n: Int!) { topProducts(first: $n) { upc } }', { n: null }],
        ['query($n: Int!) { topProducts(first: $n) { upc } }', {}],
        ['query($upc: String!) { product(upc: $upc) { upc } }', { upc: null }],
        ['query($upc: String!) { product(upc: $upc) { upc } }', { upc: 123 }],
        ['query($upc: String!) { product(upc: $upc) { upc } }', { upc: { a: 1 } }],
        ['query($upc: String!) { product(upc: $upc) { upc } }', { upc: ['a'] }],
        ['query($id: ID!) { user(id: $id) { id } }', { id: true }],
        ['query($id: ID!) { user(id: $id) { id } }', { id: 1.5 }],
        ['query($id: ID!) { user(id: $id) { id } }', { id: {} }],
        ['query($f: Float!) { topProducts(first: $f) { upc } }', { f: 1.5 }],
        ['query($s: OrderStatus!) { topProducts { upc } }', { s: 'NOPE' }],
        ['query($s: OrderStatus!, $n: Int) { topProducts(first: $n) { upc } }', { s: 'NOPE', n: 1 }],
        ['query($after: String) { users(first: 1, after: $after) { totalCount } }', { after: 5 }],
        ['query($n: Int) { topProducts(first: $n) { upc } }', { n: 'x', unknownVariable: 1, another: { deep: [1] } }],
        ['mutation($input: CreateOrderInput!) { createOrder(input: $input) { id } }', { input: { items: 'x' } }],
        ['mutation($input: CreateOrderInput!) { createOrder(input: $input) { id } }', { input: { items: [{ upc: 1, quantity: 1 }] } }],
        ['mutation($input: CreateOrderInput!) { createOrder(input: $input) { id } }', { input: { items: [{ upc: 'p', quantity: '1' }] } }],
        [
          'mutation($input: CreateOrderInput!) { createOrder(input: $input) { id } }',
          { input: { items: [{ upc: 'p', quantity: 1, extra: true }] } },
        ],
        ['mutation($input: CreateOrderInput!) { createOrder(input: $input) { id } }', { input: {} }],
        ['mutation($input: CreateOrderInput!) { createOrder(input: $input) { id } }', { input: null }],
        ['mutation($input: CreateOrderInput!) { createOrder(input: $input) { id } }', { input: [] }],
        ['mutation($id: ID!) { cancelOrder(id: $id) { id } }', { id: null }],
      ];
      const [query, variables] = pick(rng, cases);
      const headers: Record<string, string> = rng() < 0.5 ? { authorization: `Bearer ${tokens.attacker}` } : {};
      return postJson('invalid-variables', { query, variables }, headers);
    },
    // Unicode, RTL, emoji and NUL bytes in operation names, field names and variables.
    (rng) => {
      const weird = pick(rng, WEIRD);
      const variants = [
        { query: DEMO_QUERY, operationName: weird },
        // (whitespace and a BOM are legal around a name: the document is made invalid elsewhere too)
        { query: `query ${weird} { topProducts { upc } nope }` },
        { query: `{ topProducts { ${weird} } }` },
        { query: `query($${weird}: Int) { topProducts { upc } }` },
        { query: `query Op { topProducts { upc } } query Other { topProducts { upc } }`, operationName: `Op${weird}` },
        { query: 'query($upc: String!) { product(upc: $upc) { nope } }', variables: { upc: weird } },
        { query: `{ product(upc: "${weird.replaceAll('\\', '')}") { upc nope } }` },
        { query: 'query($n: Int) { topProducts(first: $n) { upc } }', variables: { n: weird } },
      ];
      return postJson('unicode-body', pick(rng, variants));
    },
    // Unicode and NUL bytes in headers, over raw sockets (undici refuses them).
    (rng) => {
      const weird = pick(rng, WEIRD);
      const variants = [
        () =>
          rawUtf8(
            'unicode-header',
            `POST /graphql HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\nauthorization: Bearer ${weird}\r\n`,
            JSON.stringify({ query: DEMO_QUERY }),
          ),
        () =>
          rawUtf8(
            'unicode-header',
            `POST /graphql HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\nx-api-key: ${weird}\r\n`,
            JSON.stringify({ query: DEMO_QUERY }),
          ),
        () =>
          rawUtf8(
            'unicode-header',
            `POST /graphql HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\nx-request-id: ${weird}\r\n`,
            JSON.stringify({ query: '{ nope }' }),
          ),
        () =>
          rawUtf8(
            'unicode-header',
            `POST /graphql HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json; charset=${weird}\r\n`,
            JSON.stringify({ query: '{ nope }' }),
          ),
        () =>
          rawUtf8(
            'unicode-header',
            `POST /graphql HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\nx-${weird}: 1\r\n`,
            JSON.stringify({ query: '{ nope }' }),
          ),
        () =>
          raw(
            'nul-header',
            `POST /graphql HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\nauthorization: Bearer a\u0000b\r\n`,
            JSON.stringify({ query: DEMO_QUERY }),
          ),
        () =>
          raw(
            'nul-header',
            `POST /graphql HTTP/1.1\r\nhost: gw\r\nx-na\u0000me: 1\r\ncontent-type: application/json\r\n`,
            JSON.stringify({ query: DEMO_QUERY }),
          ),
        () =>
          rawUtf8(
            'unicode-header',
            `POST /graphql HTTP/1.1\r\nhost: ${weird}\r\ncontent-type: application/json\r\n`,
            JSON.stringify({ query: '{ nope }' }),
          ),
        () => rawUtf8('unicode-path', `GET /graphql?query=${weird}&x=${weird} HTTP/1.1\r\nhost: gw\r\ngraphql-preflight: 1\r\n`),
      ];
      return pick(rng, variants)();
    },
    // Forged JWTs (an oversized header block goes raw: the gateway answers 431 and closes).
    (rng) => {
      const [name, token] = pick(rng, forged);
      if (rng() < 0.08) {
        return raw(
          'jwt-over-header-limit',
          `POST /graphql HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\nauthorization: Bearer ${token}${'A'.repeat(20_000)}\r\n`,
          JSON.stringify({ query: DEMO_QUERY }),
        );
      }
      const scheme = pick(rng, ['Bearer ', 'bearer ', 'Bearer  ', 'Basic ', '']);
      return postJson(`jwt-${name}`, { query: DEMO_QUERY }, { authorization: `${scheme}${token}` });
    },
    // Forged API keys.
    (rng) => {
      const keys = [
        'gwk_' + 'x'.repeat(int(rng, 1, 64)),
        'gwk_',
        '',
        'a'.repeat(int(rng, 1_000, 9_000)),
        'gwk_../../etc/passwd',
        'gwk_%00',
        "gwk_' OR '1'='1",
        'gwk_' + 'A'.repeat(40) + '_' + 'B'.repeat(40),
      ];
      const headers: Record<string, string> = { 'x-api-key': pick(rng, keys) };
      if (rng() < 0.3) headers.authorization = `Bearer ${tokens.attacker}`;
      return postJson('api-key', { query: DEMO_QUERY }, headers);
    },
    // Bad content types, methods and URL encodings; batches; persisted-query garbage.
    (rng) => {
      const body = JSON.stringify({ query: DEMO_QUERY });
      const variants: (() => AttackRequest)[] = [
        () =>
          post('content-type', body, {
            'content-type': pick(rng, [
              'text/plain',
              'application/x-www-form-urlencoded',
              'multipart/form-data; boundary=x',
              'application/graphql',
              'application/xml',
              'application/json-patch+json',
              'application/jsonx',
              '*/*',
            ]),
          }),
        () => ({
          kind: 'no-content-type',
          transport: 'raw',
          bytes: Buffer.from(`POST /graphql HTTP/1.1\r\nhost: gw\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`),
        }),
        () => ({
          kind: 'method',
          transport: 'http',
          method: pick(rng, ['PUT', 'PATCH', 'DELETE']),
          path: '/graphql',
          headers: GRAPHQL_HEADERS,
          body,
        }),
        () =>
          raw('method-raw', `${pick(rng, ['TRACE', 'CONNECT', 'PROPFIND', 'FOO', 'G\u00c9T', 'get'])} /graphql HTTP/1.1\r\nhost: gw\r\n`),
        () => raw('http-version', `GET /graphql HTTP/${pick(rng, ['0.9', '2.0', '1.2', '9.9', 'x'])}\r\nhost: gw\r\n`),
        () =>
          raw(
            'smuggling',
            `POST /graphql HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\ncontent-length: 4\r\n`,
            '0\r\n\r\n',
          ),
        () =>
          raw(
            'bad-chunk',
            `POST /graphql HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n`,
            'zz\r\n{}\r\n0\r\n\r\n',
          ),
        () => ({
          kind: 'url-encoding',
          transport: 'http',
          method: 'GET',
          path: pick(rng, [
            '/graphql?query=%zz',
            '/graphql?query=%E0%A4%A',
            '/graphql?query=%00',
            '/graphql?query={nope}&variables=%7B',
            '/graphql?query=%7B%20nope%20%7D&variables=[1]',
            '/graphql?query=query%7BtopProducts%7Bupc%7D%7D&extensions=%7B',
            '/graphql%00',
            '/%E0%A4%A',
            '/..%2f..%2fetc%2fpasswd',
            `/graphql?query=${'%7B'.repeat(int(rng, 100, 2_000))}`,
            `/${'a'.repeat(int(rng, 1_000, 8_000))}`,
            '/graphql?query[]=1&query[]=2',
            '/graphql?query=%7B%20topProducts%20%7B%20upc%20%7D%20%7D&operationName=%F0%9F%98%80',
          ]),
          headers: { 'graphql-preflight': '1' },
        }),
        () =>
          postJson(
            'batch',
            pick(rng, [
              [{ query: DEMO_QUERY }, { query: DEMO_QUERY }],
              [],
              [1, 2],
              [{ query: '{ nope }' }],
              Array.from({ length: 200 }, () => ({ query: DEMO_QUERY })),
            ]),
          ),
        () =>
          postJson(
            'persisted-query',
            pick(rng, [
              { query: DEMO_QUERY, extensions: { persistedQuery: { version: 1, sha256Hash: 'deadbeef' } } },
              { query: DEMO_QUERY, extensions: { persistedQuery: { version: 1, sha256Hash: 'z'.repeat(64) } } },
              { query: DEMO_QUERY, extensions: { persistedQuery: { version: 2, sha256Hash: 'a'.repeat(64) } } },
              { query: DEMO_QUERY, extensions: { persistedQuery: { version: 1, sha256Hash: 123 } } },
              { query: DEMO_QUERY, extensions: { persistedQuery: { version: 1 } } },
              { query: DEMO_QUERY, extensions: { persistedQuery: 'x' } },
              { extensions: { persistedQuery: { version: '1', sha256Hash: ['a'] } } },
              { extensions: { persistedQuery: { version: 1, sha256Hash: '../../etc/passwd' } } },
            ]),
          ),
      ];
      return pick(rng, variants)();
    },
  ];
}

/** One gzip member of 1 MiB of zeros (about 1 KB): repeated, a decompression bomb. */
let bombMember: Buffer | undefined;

/**
 * The HTTP edge (README "Security" → "The HTTP edge"): bodies over the limit sent in full (the
 * answer must still be read), header bombs, broken framing, content codings, charsets, headers that
 * must appear once, Expect, methods the GraphQL path does not serve. Raw bytes throughout.
 */
export function httpEdgeAttack(rng: () => number, bodyLimit: number): AttackRequest {
  const int = (min: number, max: number) => min + Math.floor(rng() * (max - min + 1));
  const pick = <T>(items: readonly T[]): T => items[int(0, items.length - 1)] as T;
  const query = JSON.stringify({ query: DEMO_QUERY });
  const bytes = (kind: string, head: string, body: Buffer | string = ''): AttackRequest => ({
    kind,
    transport: 'raw',
    bytes: Buffer.concat([Buffer.from(head, 'latin1'), typeof body === 'string' ? Buffer.from(body, 'latin1') : body]),
  });
  /** A POST /graphql head: the given lines, then `connection: close` (and a Content-Length for `body`). */
  const head = (lines: string, body?: Buffer | string) =>
    `POST /graphql HTTP/1.1\r\n${lines}${body === undefined ? '' : `content-length: ${body.length}\r\n`}connection: close\r\n\r\n`;
  const json = (extra: string, body: Buffer | string) => head(`host: gw\r\ncontent-type: application/json\r\n${extra}`, body);
  const chunked = (total: number) => {
    const block = Buffer.alloc(65_536, 'a');
    const parts: Buffer[] = [];
    for (let sent = 0; sent < total; sent += block.length) parts.push(Buffer.from('10000\r\n'), block, Buffer.from('\r\n'));
    return Buffer.concat([...parts, Buffer.from('0\r\n\r\n')]);
  };
  const duplicates = [
    'authorization: Bearer a\r\nauthorization: Bearer b\r\ncontent-type: application/json\r\n',
    'host: a\r\nhost: b\r\ncontent-type: application/json\r\n',
    'content-type: application/json\r\ncontent-type: text/plain\r\n',
    'x-api-key: gwk_a\r\nx-api-key: gwk_b\r\ncontent-type: application/json\r\n',
  ];
  const variants: (() => AttackRequest)[] = [
    () => {
      const body = Buffer.alloc(bodyLimit + int(1, 3 * bodyLimit), 'a');
      return bytes('edge-over-limit-declared', json(rng() < 0.5 ? 'expect: 100-continue\r\n' : '', body), body);
    },
    () =>
      bytes(
        'edge-over-limit-chunked',
        head('host: gw\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n'),
        chunked(bodyLimit + int(1, 4 * bodyLimit)),
      ),
    () => {
      const body = JSON.stringify({ query: `{ product(upc: "${'x'.repeat(bodyLimit)}") { upc } }` });
      return bytes('edge-huge-literal', json('', body), body);
    },
    () => bytes('edge-header-bomb', head(`host: gw\r\nx-big: ${'a'.repeat(int(65_536, 1_048_576))}\r\n`, '{}'), '{}'),
    () => bytes('edge-long-query-string', `GET /graphql?query=${'a'.repeat(int(17_000, 40_000))} HTTP/1.1\r\nhost: gw\r\n\r\n`),
    () => bytes('edge-64k-token', head(`host: gw\r\nauthorization: Bearer ${'A'.repeat(65_536)}\r\n`, '{}'), '{}'),
    () => bytes('edge-header-name', head(`host: gw\r\n${pick(['x name', 'x(y)', 'x@y', '"x"'])}: 1\r\n`, '{}'), '{}'),
    () => bytes('edge-two-content-lengths', json(`content-length: ${query.length + int(0, 3)}\r\n`, query), query),
    () => bytes('edge-not-gzip', json('content-encoding: gzip\r\n', query), query),
    () => {
      bombMember ??= gzipSync(Buffer.alloc(1_048_576));
      const bomb = Buffer.concat(Array.from({ length: int(50, 300) }, () => bombMember as Buffer));
      return bytes('edge-gzip-bomb', json('content-encoding: gzip\r\n', bomb), bomb);
    },
    () => {
      const coding = pick(['bogus', 'compress', 'gzip, br', 'zstd', 'identity, gzip']);
      return bytes('edge-content-encoding', json(`content-encoding: ${coding}\r\n`, query), query);
    },
    () => {
      const charset = pick(['bogus', 'utf-16', 'utf-16le', 'latin1']);
      return bytes('edge-charset', head(`host: gw\r\ncontent-type: application/json; charset=${charset}\r\n`, query), query);
    },
    () => {
      const lines = pick(duplicates);
      return bytes('edge-duplicate-header', head(`${lines.startsWith('host') ? '' : 'host: gw\r\n'}${lines}`, query), query);
    },
    () => bytes('edge-no-host', head('content-type: application/json\r\n', query), query),
    () => bytes('edge-expect', json(`expect: ${pick(['tea', '200-ok', '100-continue-please'])}\r\n`, query), query),
    () => bytes('edge-method', `${pick(['TRACE', 'OPTIONS', 'SEARCH', 'PROPFIND'])} /graphql HTTP/1.1\r\nhost: gw\r\n\r\n`),
  ];
  return pick(variants)();
}

/** The whole corpus for one seed: `count` requests, families drawn at random. */
export function generateAttacks(seed: number, count: number, tokens: Tokens, bodyLimit: number): AttackRequest[] {
  const rng = seededRandom(seed);
  const families = attackFamilies(tokens, bodyLimit);
  return Array.from({ length: count }, (_, n) =>
    (families[Math.floor(rng() * families.length)] as (rng: () => number, n: number) => AttackRequest)(rng, n),
  );
}
