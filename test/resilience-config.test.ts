import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, subgraphSettings } from '../gateway/src/config/index.js';
import { createGateway } from '../gateway/src/server.js';
import { spawnGateway } from './helpers/process.js';

function tempFile(name: string, content: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'gw-resilience-')), name);
  writeFileSync(path, content);
  return path;
}

describe('per-subgraph resilience settings', () => {
  it('default from resilience.subgraphDefaults, and a subgraph overrides them key by key', () => {
    const config = loadConfig({
      env: {},
      overrides: {
        resilience: { subgraphDefaults: { timeoutMs: 2_000, breaker: { resetTimeoutMs: 5_000 } } },
        subgraphs: { products: { timeoutMs: 500, breaker: { volumeThreshold: 3 }, public: true } },
      },
    });
    const products = subgraphSettings(config, 'products');
    expect(products.timeoutMs).toBe(500);
    expect(products.public).toBe(true);
    expect(products.breaker).toEqual({
      enabled: true,
      errorThresholdPercentage: 50,
      rollingWindowMs: 10_000,
      volumeThreshold: 3,
      resetTimeoutMs: 5_000,
      consecutiveFailures: 20,
      slowCallDurationMs: 250, // half of its own timeoutMs
      slowCallRatePercentage: 80,
    });
    const users = subgraphSettings(config, 'users'); // not in `subgraphs` at all
    expect(users.timeoutMs).toBe(2_000);
    expect(users.breaker.volumeThreshold).toBe(10);
    expect(users.retry).toEqual({ maxRetries: 2, baseDelayMs: 25, maxDelayMs: 250 });
    expect(users.fallback).toEqual({ cache: true, cacheTtlMs: 300_000, refreshAfterMs: 1_000 });
    expect(users.hedging).toEqual({
      enabled: false,
      delayMs: 500,
      adaptive: true,
      percentile: 95,
      minDelayMs: 10,
      maxPercent: 10,
      windowMs: 10_000,
    });
  });

  it('rejects unknown and out-of-range keys, naming them', () => {
    const file = tempFile('gateway.yaml', 'subgraphs:\n  products:\n    breaker:\n      volumeTreshold: 3\n');
    expect(() => loadConfig({ file, env: {} })).toThrow(/subgraphs\.products\.breaker\.volumeTreshold: .*Unrecognized key/);
    const retries = tempFile('gateway.yaml', 'resilience:\n  subgraphDefaults:\n    retry:\n      maxRetries: 50\n');
    expect(() => loadConfig({ file: retries, env: {} })).toThrow(/resilience\.subgraphDefaults\.retry\.maxRetries/);
  });

  it('refuses a broken static fallback file before opening anything, and the process exits 1 naming the key', async () => {
    const broken = tempFile('products.json', '{ "rootFields": { "topProducts": [] }, "entitys": {} }');
    const config = loadConfig({ env: {}, overrides: { subgraphs: { products: { fallback: { static: broken } } } } });
    expect(() => createGateway(config)).toThrow(ConfigError);
    expect(() => createGateway(config)).toThrow(/subgraphs\.products\.fallback\.static: .*entitys/);

    const missing = spawnGateway({}, [
      '--config',
      tempFile('gateway.yaml', 'subgraphs:\n  products:\n    fallback:\n      static: /nonexistent/products.json\n'),
    ]);
    expect((await missing.exited).code).toBe(1);
    expect(missing.stderr).toContain('subgraphs.products.fallback.static');
    expect(missing.stderr).toContain('ENOENT');
    expect(missing.stderr).not.toMatch(/\bat .+\.(ts|js):\d+/);
  });
});
