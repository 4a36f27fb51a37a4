import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { MAX_TIMER_MS } from '../gateway/src/config-kit.js';
import { ConfigError, ConfigSchema, loadConfig } from '../gateway/src/config/index.js';
import { spawnGateway } from './helpers/process.js';

function yamlFile(content: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'gw-config-')), 'gateway.yaml');
  writeFileSync(path, content);
  return path;
}

describe('config', () => {
  it('has a default for everything', () => {
    const config = loadConfig({ env: {} });
    expect(config.server).toEqual({
      host: '0.0.0.0',
      port: 4000,
      bodyLimitBytes: 1_048_576,
      shutdownTimeoutMs: 15_000,
      heapGrowingPercent: 100,
      parallelScavenge: false,
      requestIdHeader: 'x-request-id',
      cors: { origins: [], credentials: false, methods: ['GET', 'POST'], maxAgeSeconds: 600 },
      trustedProxies: [],
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 30_000,
      keepAliveTimeoutMs: 72_000,
      maxRequestsPerSocket: 1_000,
      maxConnections: 10_000,
      maxInFlightRequests: 1_000,
      overloadRetryAfterSeconds: 1,
      maxHeaderBytes: 16_384,
      lingeringTimeMs: 30_000,
      lingeringTimeoutMs: 5_000,
      lingeringMaxBytes: 134_217_728,
      minBodyRateBytesPerSecond: 500,
      bodyRateGraceMs: 5_000,
      readinessDetail: false,
    });
    expect(config.auth).toMatchObject({ required: false, maxTokenBytes: 8_192, jwt: { issuers: [] } });
    expect(config.auth.apiKeys).toEqual({ enabled: true, header: 'x-api-key', file: '.data/api-keys.json' });
    expect(config.supergraph).toMatchObject({ source: 'file', path: 'schema/supergraph.graphql', watch: true, pollIntervalMs: 1_000 });
    expect(config.supergraph.cacheFile).toBeUndefined();
    expect(config.redis.url).toBeUndefined();
    expect(config.subgraphs).toEqual({});
  });

  it('validates JWT issuers: one key source, algorithms that fit it, a long enough secret', () => {
    const issuer = (fields: Record<string, unknown>) => () =>
      loadConfig({ env: {}, overrides: { auth: { jwt: { issuers: [{ issuer: 'https://i.test', ...fields } as never] } } } });
    expect(issuer({ algorithms: ['HS256'], secret: 'x'.repeat(32), jwksUrl: 'https://i.test/jwks' })).toThrow(/exactly one key source/);
    expect(issuer({ algorithms: ['HS256'] })).toThrow(/exactly one key source/);
    expect(issuer({ algorithms: ['HS256'], jwksUrl: 'https://i.test/jwks' })).toThrow(/HS256 cannot be used with a public key/);
    expect(issuer({ algorithms: ['RS256'], secret: 'x'.repeat(32) })).toThrow(/RS256 cannot be used with an HMAC secret/);
    expect(issuer({ algorithms: ['HS256'], secret: 'short' })).toThrow(/at least 32 characters/);
    expect(issuer({ algorithms: ['none'], secret: 'x'.repeat(32) })).toThrow(/auth\.jwt\.issuers\.0\.algorithms\.0/);
    expect(issuer({ algorithms: [], jwksUrl: 'https://i.test/jwks' })).toThrow(/algorithms/);
    expect(issuer({ algorithms: ['RS256'], jwksUrl: 'https://i.test/jwks' })()).toMatchObject({
      auth: { jwt: { issuers: [{ jwks: { cooldownMs: 30_000 }, claims: { id: 'sub', tier: 'tier' }, defaultTier: 'free' }] } },
    });
  });

  it('reads AUTH_REQUIRED from the environment', () => {
    expect(loadConfig({ env: { AUTH_REQUIRED: 'true' } }).auth.required).toBe(true);
    expect(() => loadConfig({ env: { AUTH_REQUIRED: 'maybe' } })).toThrow(/auth\.required \(from env AUTH_REQUIRED\)/);
  });

  it('reads a YAML file, and the environment overrides it', () => {
    const file = yamlFile(`
server:
  port: 5000
  host: 127.0.0.1
supergraph:
  path: other.graphql
subgraphs:
  users:
    url: http://users.internal:4001/graphql
logging:
  level: warn
`);
    const fromFile = loadConfig({ file, env: {} });
    expect(fromFile.server.port).toBe(5000);
    expect(fromFile.subgraphs.users?.url).toBe('http://users.internal:4001/graphql');
    expect(fromFile.logging.level).toBe('warn');

    const withEnv = loadConfig({
      file,
      env: {
        PORT: '6000',
        HOST: '::',
        SUPERGRAPH_PATH: '/etc/gw/supergraph.graphql',
        REDIS_URL: 'redis://redis:6379',
        LOG_LEVEL: 'debug',
        SUBGRAPH_USERS_URL: 'http://users:4001/graphql',
        SUBGRAPH_PRODUCTS_URL: 'http://products:4003/graphql',
      },
    });
    expect(withEnv.server).toMatchObject({ port: 6000, host: '::' });
    expect(withEnv.supergraph.path).toBe('/etc/gw/supergraph.graphql');
    expect(withEnv.redis.url).toBe('redis://redis:6379');
    expect(withEnv.logging.level).toBe('debug');
    expect(withEnv.subgraphs).toEqual({
      users: { url: 'http://users:4001/graphql' },
      products: { url: 'http://products:4003/graphql' },
    });
  });

  const invalid: { name: string; file?: string; env?: Record<string, string>; message: RegExp }[] = [
    { name: 'a value of the wrong type', file: 'server:\n  port: "four thousand"\n', message: /server\.port: .*expected number/ },
    { name: 'a port out of range', file: 'server:\n  port: 70000\n', message: /server\.port/ },
    { name: 'an unknown key (a typo)', file: 'server:\n  prot: 4000\n', message: /server\.prot: .*Unrecognized key/ },
    { name: 'an unknown section', file: 'sever:\n  port: 4000\n', message: /sever: .*Unrecognized key/ },
    { name: 'a bad subgraph URL', file: 'subgraphs:\n  users:\n    url: not a url\n', message: /subgraphs\.users\.url/ },
    { name: 'a bad log level', file: 'logging:\n  level: loud\n', message: /logging\.level/ },
    { name: 'a bad value from the environment', env: { PORT: 'abc' }, message: /server\.port \(from env PORT\)/ },
    {
      name: 'a bad Redis URL from the environment',
      env: { REDIS_URL: 'localhost:6379' },
      message: /redis\.url \(from env REDIS_URL\): must start with redis:\/\//,
    },
    { name: 'a file that is not YAML', file: 'server: [unclosed\n', message: /not valid YAML/ },
    { name: 'a file that is a list', file: '- a\n- b\n', message: /must hold a mapping/ },
  ];
  it('never repeats text of a file that is not YAML: not the lines around the error, not an alias, not a tag', () => {
    const warnings = vi.spyOn(process, 'emitWarning');
    try {
      const problems = [
        'redis:\n  url: redis://:s3cret-pass@127.0.0.1:1\n bad: 1\n',
        'auth:\n  secret: *s3cret-alias\n',
        'server: "s3cret-quote\n',
      ].map((text) => {
        try {
          loadConfig({ file: yamlFile(text), env: {} });
          return 'loaded';
        } catch (error) {
          return (error as Error).message;
        }
      });
      expect(problems[0]).toMatch(/not valid YAML: All mapping items must start at the same column at line 3, column 1$/);
      expect(problems[1]).toMatch(/not valid YAML: Unresolved alias \(the anchor must be set before the alias\)$/);
      for (const problem of problems) expect(problem).not.toContain('s3cret');
      // A tag the parser does not know is a warning, which it would print with the line quoted.
      expect(() => loadConfig({ file: yamlFile('server:\n  host: !S3cretTag 127.0.0.1\n'), env: {} })).not.toThrow();
      expect(warnings).not.toHaveBeenCalled();
    } finally {
      warnings.mockRestore();
    }
  });

  for (const { name, file, env, message } of invalid) {
    it(`rejects ${name}, naming the key`, () => {
      const load = () => loadConfig({ file: file === undefined ? undefined : yamlFile(file), env: env ?? {} });
      expect(load).toThrow(ConfigError);
      expect(load).toThrow(message);
    });
  }

  it('rejects a config file that does not exist', () => {
    expect(() => loadConfig({ file: '/nonexistent/gateway.yaml', env: {} })).toThrow(/cannot read config file .*ENOENT/);
  });

  it('makes the gateway process exit 1 with a message naming the bad key', async () => {
    const bad = spawnGateway({ PORT: 'not-a-port' });
    const { code } = await bad.exited;
    expect(code).toBe(1);
    expect(bad.stderr).toContain('server.port (from env PORT)');
    expect(bad.stderr).not.toMatch(/\bat .+\.(ts|js):\d+/);

    const badFile = spawnGateway({}, ['--config', yamlFile('metrics:\n  enabled: maybe\n')]);
    expect((await badFile.exited).code).toBe(1);
    expect(badFile.stderr).toContain('metrics.enabled');
  });
});

describe('durations in milliseconds', () => {
  type SchemaNode = {
    type?: string;
    maximum?: number;
    properties?: Record<string, SchemaNode>;
    items?: SchemaNode;
    additionalProperties?: SchemaNode | boolean;
    anyOf?: SchemaNode[];
    oneOf?: SchemaNode[];
    allOf?: SchemaNode[];
  };

  /** Every integer setting whose name ends in `Ms`, with its path and largest allowed value. */
  function durations(node: SchemaNode | boolean | undefined, path: string, found: { path: string; maximum?: number }[] = []) {
    if (!node || typeof node === 'boolean') return found;
    for (const alternative of [...(node.anyOf ?? []), ...(node.oneOf ?? []), ...(node.allOf ?? [])]) durations(alternative, path, found);
    for (const [key, child] of Object.entries(node.properties ?? {})) {
      if (key.endsWith('Ms')) {
        for (const number of [child, ...(child.anyOf ?? [])].filter((n) => n.type === 'integer' || n.type === 'number')) {
          found.push({ path: `${path}${key}`, maximum: number.maximum });
        }
      }
      durations(child, `${path}${key}.`, found);
    }
    durations(node.items, `${path}[].`, found);
    if (typeof node.additionalProperties === 'object') durations(node.additionalProperties, `${path}<name>.`, found);
    return found;
  }

  it("are all at most what Node's timers wait (a longer one would fire at once)", () => {
    const found = durations(z.toJSONSchema(ConfigSchema, { io: 'input', unrepresentable: 'any' }) as SchemaNode, '');
    expect(found.length).toBeGreaterThan(50);
    expect(found.filter((d) => d.maximum === undefined || d.maximum > MAX_TIMER_MS)).toEqual([]);
  });

  it('past that bound, refuse the config and name the key', () => {
    expect(() => loadConfig({ env: {}, overrides: { resilience: { requestDeadlineMs: 3_000_000_000 } } })).toThrow(ConfigError);
    expect(() => loadConfig({ env: {}, overrides: { resilience: { requestDeadlineMs: 3_000_000_000 } } })).toThrow(
      /resilience\.requestDeadlineMs/,
    );
    expect(loadConfig({ env: {}, overrides: { resilience: { requestDeadlineMs: MAX_TIMER_MS } } }).resilience.requestDeadlineMs).toBe(
      MAX_TIMER_MS,
    );
  });
});
