import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { CacheStore } from '../../../gateway/src/cache/store.js';

/**
 * The {@link CacheStore} contract (the fallback cache of subgraph and REST answers): memory, one
 * Redis server and a Redis Cluster run these same cases. `make` is called inside each test, so it
 * may use a connection that a `beforeAll` of the calling file opened.
 */
export function describeCacheStoreContract(kind: string, make: () => CacheStore): void {
  describe(`CacheStore contract: ${kind}`, () => {
    it('returns what was stored, with the time it was stored', async () => {
      const store = make();
      const before = Date.now();
      await store.set('a', '{"data":{"x":1}}', 10_000);
      const entry = await store.get('a');
      expect(entry?.value).toBe('{"data":{"x":1}}');
      expect(entry?.storedAt).toBeGreaterThanOrEqual(before);
      expect(entry?.storedAt).toBeLessThanOrEqual(Date.now());
    });

    it('answers undefined for a key never stored', async () => {
      expect(await make().get('never')).toBeUndefined();
    });

    it('says whether an entry is there, without reading it', async () => {
      const store = make();
      expect(await store.has('has-c')).toBe(false);
      await store.set('has-c', 'value', 10_000);
      expect(await store.has('has-c')).toBe(true);
      await store.purgeMatching('has-c');
      expect(await store.has('has-c')).toBe(false);
    });

    it('overwrites an entry and keeps values with newlines and unicode intact', async () => {
      const store = make();
      await store.set('b', 'first', 10_000);
      await store.set('b', 'line one\nline two — ✓', 10_000);
      expect((await store.get('b'))?.value).toBe('line one\nline two — ✓');
    });

    it('purges the entries listed under a tag, and only those', async () => {
      const store = make();
      await store.set('rc:e:{T:1}:a', 'one-a', 10_000);
      await store.set('rc:e:{T:1}:b', 'one-b', 10_000);
      await store.set('rc:e:{T:2}:a', 'two-a', 10_000);
      await store.tag(['rc:t:{T:1}'], 'rc:e:{T:1}:a', 10_000);
      await store.tag(['rc:t:{T:1}'], 'rc:e:{T:1}:b', 10_000);
      await store.tag(['rc:t:{T:2}'], 'rc:e:{T:2}:a', 10_000);
      expect(await store.purgeTags(['rc:t:{T:1}'])).toBe(2);
      expect(await store.get('rc:e:{T:1}:a')).toBeUndefined();
      expect(await store.get('rc:e:{T:1}:b')).toBeUndefined();
      expect((await store.get('rc:e:{T:2}:a'))?.value).toBe('two-a');
      // The tag went with them: purging it again deletes nothing.
      expect(await store.purgeTags(['rc:t:{T:1}'])).toBe(0);
    });

    it('purges the entries matching a pattern, and only those', async () => {
      const store = make();
      await store.set('rc:q:products:1', 'p', 10_000);
      await store.set('rc:e:{T:9}:products:1', 'e', 10_000);
      await store.set('rc:q:users:1', 'u', 10_000);
      await store.set('keep', 'k', 10_000);
      expect(await store.purgeMatching('rc:q:products:*')).toBe(1);
      expect(await store.purgeMatching('rc:e:{*}:products:*')).toBe(1);
      expect(await store.get('rc:q:products:1')).toBeUndefined();
      expect(await store.get('rc:e:{T:9}:products:1')).toBeUndefined();
      expect((await store.get('rc:q:users:1'))?.value).toBe('u');
      expect((await store.get('keep'))?.value).toBe('k');
      await store.purgeMatching('rc:*');
    });

    it("purges the entries under a prefix (the admin API's purge of a subgraph's copies), and only those", async () => {
      const store = make();
      const run = `purge-${Math.random().toString(36).slice(2, 8)}`;
      await store.set(`${run}-a:1`, 'v', 60_000);
      await store.set(`${run}-a:2`, 'v', 60_000);
      await store.set(`${run}-b:1`, 'v', 60_000);
      expect(await store.purgeMatching(`${run}-a:*`)).toBe(2);
      expect(await store.get(`${run}-a:1`)).toBeUndefined();
      expect((await store.get(`${run}-b:1`))?.value).toBe('v');
      expect(await store.purgeMatching(`${run}-a:*`)).toBe(0);
      expect(await store.purgeMatching(`${run}*`)).toBe(1);
    });

    it('forgets an entry after its TTL', async () => {
      const store = make();
      await store.set('short', 'v', 50);
      await store.set('long', 'v', 60_000);
      // Bounded wait: poll until the short entry is gone (at most ~2 s), never a fixed sleep assertion.
      let gone = false;
      for (let i = 0; i < 40 && !gone; i++) {
        await sleep(50);
        gone = (await store.get('short')) === undefined;
      }
      expect(gone).toBe(true);
      expect((await store.get('long'))?.value).toBe('v');
    });
  });
}
