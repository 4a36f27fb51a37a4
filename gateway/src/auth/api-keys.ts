import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ApiKeyRecord, ApiKeyStore } from './api-key-store.js';
import { AuthFailure } from './failure.js';
import type { Principal } from './principal.js';

/**
 * API keys for service-to-service callers. A key is `gwk_<id>_<secret>`: the id (16 hex digits)
 * finds the record, the whole key is checked against the stored SHA-256 hash in constant time.
 * Only hashes are stored; the key itself is shown once, when it is created.
 */
export type { ApiKeyRecord };

/** A record as `list` shows it: everything but the hash. */
export type ApiKeyInfo = Omit<ApiKeyRecord, 'hash'>;

const KEY_FORMAT = /^gwk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

export interface NewApiKey {
  owner: string;
  tier: string;
  scopes: readonly string[];
  expiresAt?: Date | undefined;
}

/** Creates and stores a key; returns the key (shown once) and its record. */
export async function createApiKey(store: ApiKeyStore, input: NewApiKey, now = new Date()): Promise<{ key: string; record: ApiKeyRecord }> {
  if (!input.owner.trim()) throw new Error('an API key needs an owner');
  const id = randomBytes(8).toString('hex');
  const key = `gwk_${id}_${randomBytes(32).toString('base64url')}`;
  const record: ApiKeyRecord = {
    id,
    hash: hashApiKey(key),
    owner: input.owner,
    tier: input.tier,
    scopes: [...new Set(input.scopes)],
    createdAt: now.toISOString(),
    expiresAt: input.expiresAt?.toISOString(),
  };
  await store.put(record);
  return { key, record };
}

export async function revokeApiKey(store: ApiKeyStore, id: string, now = new Date()): Promise<ApiKeyRecord> {
  const record = await store.get(id);
  if (!record) throw new Error(`no API key with id ${id}`);
  const revoked = { ...record, revokedAt: record.revokedAt ?? now.toISOString() };
  await store.put(revoked);
  return revoked;
}

/**
 * Replaces a key with a new one (same owner, tier and scopes). The old key is revoked at once, or,
 * with a grace period, keeps working until then so callers can switch without an outage.
 */
export async function rotateApiKey(
  store: ApiKeyStore,
  id: string,
  graceSeconds = 0,
  now = new Date(),
): Promise<{ key: string; record: ApiKeyRecord; old: ApiKeyRecord }> {
  const old = await store.get(id);
  if (!old) throw new Error(`no API key with id ${id}`);
  if (old.revokedAt) throw new Error(`API key ${id} is revoked`);
  const created = await createApiKey(
    store,
    { owner: old.owner, tier: old.tier, scopes: old.scopes, expiresAt: old.expiresAt ? new Date(old.expiresAt) : undefined },
    now,
  );
  const graceEnd = new Date(now.getTime() + graceSeconds * 1000);
  const retired: ApiKeyRecord =
    graceSeconds > 0
      ? { ...old, rotatedTo: created.record.id, expiresAt: earliest(old.expiresAt, graceEnd).toISOString() }
      : { ...old, rotatedTo: created.record.id, revokedAt: now.toISOString() };
  await store.put(retired);
  return { ...created, old: retired };
}

function earliest(iso: string | undefined, date: Date): Date {
  return iso && new Date(iso) < date ? new Date(iso) : date;
}

export function publicInfo(record: ApiKeyRecord): ApiKeyInfo {
  const { hash: _hash, ...info } = record;
  return info;
}

/**
 * The principal of a presented key; throws {@link AuthFailure} for an unknown, revoked or expired
 * key, and `unavailable` when the store cannot be read. The store is read on every request, so a
 * revocation applies to the next request on every gateway instance that shares the store.
 */
export async function verifyApiKey(store: ApiKeyStore, presented: string, clientIp: string, now = new Date()): Promise<Principal> {
  const match = KEY_FORMAT.exec(presented);
  if (!match?.[1]) throw new AuthFailure('unknown_api_key', 'not a gateway API key');
  let record: ApiKeyRecord | undefined;
  try {
    record = await store.get(match[1]);
  } catch (error) {
    throw new AuthFailure('unavailable', `API key store: ${(error as Error).message}`);
  }
  const expected = Buffer.from(record?.hash ?? '00'.repeat(32), 'hex');
  const actual = Buffer.from(hashApiKey(presented), 'hex');
  const equal = expected.length === actual.length && timingSafeEqual(expected, actual);
  if (!record || !equal) throw new AuthFailure('unknown_api_key', `key id ${match[1]}`);
  if (record.revokedAt || (record.expiresAt && new Date(record.expiresAt) <= now)) {
    throw new AuthFailure('revoked', `key id ${record.id}`);
  }
  return {
    kind: 'api_key',
    id: record.owner,
    tier: record.tier,
    scopes: record.scopes,
    issuer: 'api-key',
    keyId: record.id,
    clientIp,
    clientKey: `key:${record.id}`,
  };
}
