/**
 * Manage the gateway's API keys (hashes only are stored; a key is shown once, when created).
 *
 *   npm run apikey -- create --owner billing-service --tier pro --scopes "orders:read:all" [--expires 30d|2027-01-01]
 *   npm run apikey -- list [--json]
 *   npm run apikey -- rotate <id> [--grace SECONDS]     # new key, same owner/tier/scopes; old one revoked (or expires after the grace)
 *   npm run apikey -- revoke <id>
 *
 * The store is the gateway's: Redis when the config (`--config FILE` or GATEWAY_CONFIG), REDIS_URL or
 * REDIS_CLUSTER_NODES names one (with `redis.keyPrefix`), else the file `auth.apiKeys.file`. `create` and `rotate` print
 * the key alone on stdout (so `KEY=$(npm run -s apikey -- create ...)` works); the rest goes to stderr.
 */
import { parseArgs } from 'node:util';
import { Cluster, Redis } from 'ioredis';
import { FileApiKeyStore, RedisApiKeyStore, type ApiKeyStore } from '../gateway/src/auth/api-key-store.js';
import { createApiKey, publicInfo, revokeApiKey, rotateApiKey, type ApiKeyInfo } from '../gateway/src/auth/api-keys.js';
import { loadConfig } from '../gateway/src/config/index.js';

const USAGE = `usage:
  npm run apikey -- create --owner OWNER [--tier TIER] [--scopes "A B"] [--expires 30d|ISO-DATE]
  npm run apikey -- list [--json]
  npm run apikey -- rotate ID [--grace SECONDS]
  npm run apikey -- revoke ID
options: --config FILE (gateway config; default GATEWAY_CONFIG)`;

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    options: {
      owner: { type: 'string' },
      tier: { type: 'string', default: 'free' },
      scopes: { type: 'string', default: '' },
      expires: { type: 'string' },
      grace: { type: 'string', default: '0' },
      json: { type: 'boolean', default: false },
      config: { type: 'string', short: 'c' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
  });
  const [command, id] = positionals;
  if (values.help || !command) {
    process.stderr.write(`${USAGE}\n`);
    return values.help ? 0 : 2;
  }
  const config = loadConfig({ file: values.config ?? process.env.GATEWAY_CONFIG });
  const options = { keyPrefix: config.redis.keyPrefix, connectTimeout: config.redis.connectTimeoutMs, maxRetriesPerRequest: 1 };
  const nodes = config.redis.cluster?.nodes.map((node) => new URL(node));
  // A CLI waits for the connection (offline queue on), unlike the gateway, which must never wait.
  const redis = nodes
    ? new Cluster(
        nodes.map((url) => ({ host: url.hostname, port: Number(url.port) })),
        {
          keyPrefix: options.keyPrefix,
          redisOptions: {
            ...options,
            password: nodes[0]?.password ? decodeURIComponent(nodes[0].password) : undefined,
            username: nodes[0]?.username || undefined,
            tls: nodes[0]?.protocol === 'rediss:' ? {} : undefined,
          },
        },
      )
    : config.redis.url
      ? new Redis(config.redis.url, options)
      : undefined;
  const store: ApiKeyStore = redis ? new RedisApiKeyStore(redis) : new FileApiKeyStore(config.auth.apiKeys.file);
  const where = redis ? 'Redis' : `file ${config.auth.apiKeys.file}`;
  try {
    switch (command) {
      case 'create': {
        if (!values.owner) throw new Error('--owner is required');
        const { key, record } = await createApiKey(store, {
          owner: values.owner,
          tier: values.tier,
          scopes: values.scopes.split(/\s+/).filter(Boolean),
          expiresAt: values.expires ? parseExpiry(values.expires) : undefined,
        });
        process.stderr.write(
          `created API key ${record.id} for ${record.owner} (tier ${record.tier}) in ${where}. It is shown once: store it now.\n`,
        );
        process.stdout.write(`${key}\n`);
        return 0;
      }
      case 'list': {
        const keys = (await store.list()).map(publicInfo);
        process.stdout.write(values.json ? `${JSON.stringify(keys, null, 2)}\n` : table(keys));
        return 0;
      }
      case 'rotate': {
        if (!id) throw new Error('rotate needs the key id');
        const grace = Number(values.grace);
        if (!Number.isInteger(grace) || grace < 0) throw new Error('--grace must be a whole number of seconds');
        const { key, record, old } = await rotateApiKey(store, id, grace);
        process.stderr.write(
          `rotated ${old.id} → ${record.id}; the old key ${grace > 0 ? `keeps working until ${old.expiresAt}` : 'is revoked'}. The new key is shown once: store it now.\n`,
        );
        process.stdout.write(`${key}\n`);
        return 0;
      }
      case 'revoke': {
        if (!id) throw new Error('revoke needs the key id');
        const record = await revokeApiKey(store, id);
        process.stderr.write(`revoked ${record.id} (${record.owner}) at ${record.revokedAt}\n`);
        return 0;
      }
      default:
        throw new Error(`unknown command "${command}"\n${USAGE}`);
    }
  } finally {
    redis?.disconnect();
  }
}

/** `30d`, `12h`, `90m` from now, or an ISO date. */
function parseExpiry(value: string): Date {
  const relative = /^(\d+)([dhm])$/.exec(value);
  if (relative) {
    const unit = { d: 86_400_000, h: 3_600_000, m: 60_000 }[relative[2] as 'd' | 'h' | 'm'];
    return new Date(Date.now() + Number(relative[1]) * unit);
  }
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) throw new Error(`--expires: "${value}" is neither a duration (30d, 12h) nor a date`);
  return date;
}

function table(keys: ApiKeyInfo[]): string {
  const now = new Date();
  const state = (key: ApiKeyInfo) => (key.revokedAt ? 'revoked' : key.expiresAt && new Date(key.expiresAt) <= now ? 'expired' : 'active');
  const rows = [
    ['ID', 'OWNER', 'TIER', 'SCOPES', 'STATE', 'CREATED', 'EXPIRES'],
    ...keys.map((key) => [key.id, key.owner, key.tier, key.scopes.join(' ') || '-', state(key), key.createdAt, key.expiresAt ?? '-']),
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return `${rows
    .map((row) =>
      row
        .map((cell, column) => cell.padEnd(widths[column]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')}\n`;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`apikey: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
