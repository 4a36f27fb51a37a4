import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { RedisClient } from '../redis/client.js';

/** One API key as stored: its hash, never the key. */
export interface ApiKeyRecord {
  id: string;
  /** SHA-256 of the whole key, hex. */
  hash: string;
  owner: string;
  tier: string;
  scopes: string[];
  /** ISO 8601. */
  createdAt: string;
  /** ISO 8601; the key stops working then. */
  expiresAt?: string | undefined;
  /** ISO 8601; set by revoke. */
  revokedAt?: string | undefined;
  /** The id of the key that replaced this one (rotate). */
  rotatedTo?: string | undefined;
}

/** Where API key records (hashes, never keys) live. One contract, two implementations. */
export interface ApiKeyStore {
  get(id: string): Promise<ApiKeyRecord | undefined>;
  put(record: ApiKeyRecord): Promise<void>;
  list(): Promise<ApiKeyRecord[]>;
}

/**
 * Records in Redis, one string key per API key plus an index set, all under the `{apikeys}` hash
 * tag so that writes touch one slot (Redis Cluster). The client's `keyPrefix` applies.
 */
export class RedisApiKeyStore implements ApiKeyStore {
  constructor(private readonly redis: RedisClient) {}

  async get(id: string): Promise<ApiKeyRecord | undefined> {
    const raw = await this.redis.get(`{apikeys}:key:${id}`);
    return raw ? (JSON.parse(raw) as ApiKeyRecord) : undefined;
  }

  async put(record: ApiKeyRecord): Promise<void> {
    await this.redis.multi().set(`{apikeys}:key:${record.id}`, JSON.stringify(record)).sadd('{apikeys}:index', record.id).exec();
  }

  async list(): Promise<ApiKeyRecord[]> {
    const ids = (await this.redis.smembers('{apikeys}:index')).sort();
    if (ids.length === 0) return [];
    const raws = await this.redis.mget(ids.map((id) => `{apikeys}:key:${id}`));
    return raws.flatMap((raw) => (raw ? [JSON.parse(raw) as ApiKeyRecord] : []));
  }
}

interface KeyFile {
  version: 1;
  keys: Record<string, ApiKeyRecord>;
}

/**
 * Records in a JSON file (mode 0600), for a gateway without Redis. The file is re-read whenever its
 * mtime or size changes, so a key revoked by the CLI stops working on the next request; writes go
 * to a temporary file and are renamed into place.
 */
export class FileApiKeyStore implements ApiKeyStore {
  private cached: { ino: number; mtimeMs: number; size: number; data: KeyFile } | undefined;

  constructor(readonly path: string) {}

  async get(id: string): Promise<ApiKeyRecord | undefined> {
    return (await this.read()).keys[id];
  }

  async put(record: ApiKeyRecord): Promise<void> {
    const data = await this.read();
    const next: KeyFile = { version: 1, keys: { ...data.keys, [record.id]: record } };
    await mkdir(dirname(this.path), { recursive: true });
    const temporary = `${this.path}.${process.pid}.tmp`;
    await writeFile(temporary, `${JSON.stringify(next, null, 2)}\n`, { mode: 0o600 });
    await rename(temporary, this.path);
    this.cached = undefined;
  }

  async list(): Promise<ApiKeyRecord[]> {
    return Object.values((await this.read()).keys).sort((a, b) => a.id.localeCompare(b.id));
  }

  private async read(): Promise<KeyFile> {
    let info;
    try {
      info = await stat(this.path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, keys: {} };
      throw error;
    }
    if (this.cached && this.cached.ino === info.ino && this.cached.mtimeMs === info.mtimeMs && this.cached.size === info.size)
      return this.cached.data;
    const data = JSON.parse(await readFile(this.path, 'utf8')) as KeyFile;
    if (data.version !== 1 || typeof data.keys !== 'object') throw new Error(`${this.path} is not an API key file`);
    this.cached = { ino: info.ino, mtimeMs: info.mtimeMs, size: info.size, data };
    return data;
  }
}
