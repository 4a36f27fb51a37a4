import { describe, expect, it } from 'vitest';
import type { ApiKeyStore } from '../../../gateway/src/auth/api-key-store.js';
import { createApiKey, hashApiKey, revokeApiKey } from '../../../gateway/src/auth/api-keys.js';

/**
 * The {@link ApiKeyStore} contract: the file store, one Redis server and a Redis Cluster run these
 * same cases. `make` is called inside each test (a fresh, empty store each time), so it may use a
 * connection that a `beforeAll` of the calling file opened.
 */
export function describeApiKeyStoreContract(kind: string, make: () => ApiKeyStore): void {
  describe(`API key store contract: ${kind}`, () => {
    it('keeps a created key as a hash, finds it by id, and answers undefined for an unknown id', async () => {
      const store = make();
      const { key, record } = await createApiKey(store, { owner: 'svc-a', tier: 'pro', scopes: ['orders:read'] });
      const found = await store.get(record.id);
      expect(found).toEqual(record);
      expect(found?.hash).toBe(hashApiKey(key));
      expect(JSON.stringify(found)).not.toContain(key.slice(-20));
      expect(await store.get('0000000000000000')).toBeUndefined();
    });

    it('lists every key, sorted by id, and sees a revocation at once', async () => {
      const store = make();
      // One after another: the file store's writes are read-modify-write (the CLI is its only writer).
      const created = [];
      for (const owner of ['a', 'b', 'c']) created.push(await createApiKey(store, { owner, tier: 'free', scopes: [] }));
      const ids = created.map(({ record }) => record.id).sort();
      expect((await store.list()).map((record) => record.id)).toEqual(ids);
      const revoked = await revokeApiKey(store, ids[1] as string);
      expect(revoked.revokedAt).toBeDefined();
      expect((await store.get(ids[1] as string))?.revokedAt).toBe(revoked.revokedAt);
      expect(await store.list()).toHaveLength(3);
    });
  });
}
