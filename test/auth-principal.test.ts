import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEV_ISSUER, DEV_JWT_SECRET } from '../gateway/src/auth/dev-secret.js';
import { anonymousPrincipal } from '../gateway/src/auth/principal.js';
import { routeLimitKey } from '../gateway/src/rest/route-limit.js';
import { postGraphql, startTestGateway } from './helpers/gateway.js';
import { REPO_ROOT, spawnGateway } from './helpers/process.js';
import { useTinySubgraph } from './helpers/tiny-subgraph.js';

const QUERY = { query: '{ warehouses { code } }' };
const tiny = useTinySubgraph();

describe('client IP of anonymous callers', () => {
  it('ignores X-Forwarded-For from a peer that is not a trusted proxy', async () => {
    const gw = await startTestGateway({ supergraph: { path: tiny.supergraphPath, watch: false } });
    try {
      await postGraphql(gw.graphqlUrl, QUERY, { 'x-forwarded-for': '203.0.113.7', 'x-request-id': 'untrusted-xff' });
      expect(gw.logs.completed('untrusted-xff')[0]).toMatchObject({ principal: 'ip:127.0.0.1', tier: 'anonymous' });
    } finally {
      await gw.close();
    }
  });

  it('takes the client from X-Forwarded-For when the peer is a trusted proxy (the rightmost untrusted hop)', async () => {
    const gw = await startTestGateway({
      supergraph: { path: tiny.supergraphPath, watch: false },
      server: { trustedProxies: ['127.0.0.1', '10.0.0.0/8'] },
    });
    try {
      await postGraphql(gw.graphqlUrl, QUERY, { 'x-forwarded-for': '198.51.100.1, 203.0.113.7, 10.1.2.3', 'x-request-id': 'trusted-xff' });
      expect(gw.logs.completed('trusted-xff')[0]).toMatchObject({ principal: 'ip:203.0.113.7' });
    } finally {
      await gw.close();
    }
  });
});

describe('the demo token', () => {
  it('npm run token prints a token the demo issuer accepts, with the tier and scopes asked for', async () => {
    const printed = spawnSync(
      process.execPath,
      ['--import', 'tsx', 'scripts/token.ts', '--sub', 'user-1', '--tier', 'pro', '--scopes', 'read:email orders:write'],
      {
        cwd: REPO_ROOT,
        env: { PATH: process.env.PATH ?? '' },
        encoding: 'utf8',
      },
    );
    expect(printed.status).toBe(0);
    const token = printed.stdout.trim();
    const gw = await startTestGateway({
      supergraph: { path: tiny.supergraphPath, watch: false },
      auth: { jwt: { issuers: [DEV_ISSUER] } },
    });
    try {
      const result = await postGraphql(gw.graphqlUrl, QUERY, { authorization: `Bearer ${token}` });
      expect(result.status).toBe(200);
      expect(tiny.subgraph.receivedHeaders.at(-1)).toMatchObject({
        'x-user-id': 'user-1',
        'x-user-tier': 'pro',
        'x-user-scopes': 'read:email orders:write',
      });
    } finally {
      await gw.close();
    }
  });

  it('is refused under NODE_ENV=production, by the token script and by the gateway', async () => {
    const printed = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/token.ts', '--sub', 'user-1'], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production' },
      encoding: 'utf8',
    });
    expect(printed.status).toBe(1);
    expect(printed.stdout).toBe('');
    expect(printed.stderr).toContain('dev-only');

    const config = join(mkdtempSync(join(tmpdir(), 'gw-devsecret-')), 'gateway.yaml');
    writeFileSync(
      config,
      `auth:\n  jwt:\n    issuers:\n      - issuer: gateway-demo\n        algorithms: [HS256]\n        secret: ${DEV_JWT_SECRET}\n`,
    );
    const gateway = spawnGateway({ SUPERGRAPH_PATH: tiny.supergraphPath, NODE_ENV: 'production' }, ['--config', config]);
    const exit = await gateway.exited;
    expect(exit.code).toBe(1);
    expect(gateway.stderr).toContain('dev-only and refused when NODE_ENV=production');
    expect(gateway.stderr).not.toContain(DEV_JWT_SECRET);
  });
});

describe('the budget key of an anonymous caller', () => {
  it('is an IPv4 address itself, and an IPv6 address by its /64 (a host may pick any address in it)', () => {
    const key = (address: string) => anonymousPrincipal(address).clientKey;
    expect(key('203.0.113.7')).toBe('ip:203.0.113.7');
    expect(key('::ffff:203.0.113.7')).toBe('ip:203.0.113.7');
    expect(key('2001:db8:1:2:aaaa:bbbb:cccc:dddd')).toBe('ip:2001:db8:1:2::/64');
    expect(key('2001:DB8:1:2::7')).toBe('ip:2001:db8:1:2::/64');
    expect(key('2001:db8:1:3::7')).toBe('ip:2001:db8:1:3::/64');
    expect(key('2001:db8::1')).toBe('ip:2001:db8:0:0::/64');
    expect(key('1::2:3:4:5:6:7')).toBe('ip:1:0:2:3::/64');
    expect(key('fe80::1%eth0')).toBe('ip:fe80:0:0:0::/64');
    expect(anonymousPrincipal('2001:db8:1:2::7').clientIp).toBe('2001:db8:1:2::7');
    // IPv4-mapped addresses in every spelling are their IPv4 address, not one shared ::/64.
    for (const mapped of ['0:0:0:0:0:ffff:203.0.113.7', '::FFFF:203.0.113.7', '::ffff:cb00:7107'])
      expect(key(mapped)).toBe('ip:203.0.113.7');
    expect(key('::1')).toBe('ip:0:0:0:0::/64');
  });

  it("keys a REST route's per-IP limit the same way", () => {
    const keyOf = (ip: string) =>
      routeLimitKey('/legacy', { kind: 'sliding_window', by: 'ip', limit: 5, windowSeconds: 60 } as never, { ip } as never);
    expect(keyOf('2001:db8:1:2::a')).toBe('rest:/legacy:ip:2001:db8:1:2::/64');
    expect(keyOf('2001:db8:1:2::b')).toBe(keyOf('2001:db8:1:2::a'));
    expect(keyOf('203.0.113.7')).toBe('rest:/legacy:ip:203.0.113.7');
  });
});
