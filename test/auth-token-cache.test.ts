import { describe, expect, it } from 'vitest';
import type { Principal } from '../gateway/src/auth/principal.js';
import { VerifiedTokenCache } from '../gateway/src/auth/verified-tokens.js';
import { sleep } from './helpers/tiny-subgraph.js';

const principal: Principal = {
  kind: 'user',
  id: 'user-1',
  tier: 'pro',
  scopes: ['read:email'],
  issuer: 'iss',
  clientIp: '10.0.0.1',
  clientKey: 'user:iss:user-1',
};

describe('verified token cache', () => {
  it('returns the principal for a token seen before, with the client IP of the current request', () => {
    const cache = new VerifiedTokenCache({ maxEntries: 10, maxAgeSec: 60 });
    cache.set('token-a', principal, Math.floor(Date.now() / 1000) + 3600);
    expect(cache.get('token-a', '10.0.0.2')).toEqual({ ...principal, clientIp: '10.0.0.2' });
    expect(cache.get('token-b', '10.0.0.2')).toBeUndefined();
  });

  it('never outlives the token: an entry ends at exp even when maxAge is longer', async () => {
    const cache = new VerifiedTokenCache({ maxEntries: 10, maxAgeSec: 60 });
    cache.set('soon', principal, Date.now() / 1000 + 0.2);
    expect(cache.get('soon', 'ip')).toBeDefined();
    await sleep(300);
    expect(cache.get('soon', 'ip')).toBeUndefined();
    cache.set('expired', principal, Date.now() / 1000 - 1);
    expect(cache.get('expired', 'ip')).toBeUndefined();
  });

  it('can be turned off', () => {
    const cache = new VerifiedTokenCache({ maxEntries: 0, maxAgeSec: 60 });
    cache.set('token-a', principal, undefined);
    expect(cache.get('token-a', 'ip')).toBeUndefined();
  });
});
