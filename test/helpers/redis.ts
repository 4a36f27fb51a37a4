import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';

export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export interface TestRedis {
  /** A client whose keys all start with {@link prefix}. */
  client: Redis;
  /** This test's own key prefix, e.g. `test:cache:1a2b3c:`. */
  prefix: string;
  /** Full names of the keys this test created so far. */
  keys(): Promise<string[]>;
  /** Deletes this test's keys (and only those), then disconnects. */
  close(): Promise<void>;
}

/** A Redis connection with a key prefix of its own, so parallel tests never see each other's keys. */
export async function connectTestRedis(label: string): Promise<TestRedis> {
  const prefix = `test:${label}:${randomBytes(4).toString('hex')}:`;
  const client = new Redis(TEST_REDIS_URL, { keyPrefix: prefix, lazyConnect: true, maxRetriesPerRequest: 1 });
  await client.connect();
  const admin = new Redis(TEST_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await admin.connect();
  const keys = () => scanKeys(admin, prefix);
  return {
    client,
    prefix,
    keys,
    async close() {
      const mine = await keys();
      if (mine.length) await admin.del(...mine);
      client.disconnect();
      admin.disconnect();
    },
  };
}

/** Every key of one Redis server under `prefix` (SCAN, bounded). On a cluster, call it per master. */
export async function scanKeys(admin: Redis, prefix: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  for (let round = 0; round < 1_000; round++) {
    const [next, batch] = await admin.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    found.push(...batch);
    cursor = next;
    if (cursor === '0') break;
  }
  return found;
}
