/**
 * Purge the gateway's response cache (in Redis or a Redis Cluster, shared by every instance).
 *
 *   npm run cache -- purge --type Product --key upc=upc-0001   # one entity: every copy of it, found by its tag (no scan)
 *   npm run cache -- purge --type Product                      # every entity of a type (a scan)
 *   npm run cache -- purge --subgraph products                 # every answer of one subgraph (a scan)
 *   npm run cache -- purge --all                               # the whole response cache (a scan; fallback copies stay)
 *
 * Redis is the gateway's: the config (`--config FILE` or GATEWAY_CONFIG), REDIS_URL or
 * REDIS_CLUSTER_NODES, with `redis.keyPrefix`. Prints the number of entries deleted.
 */
import { parseArgs } from 'node:util';
import { Cluster, Redis } from 'ioredis';
import { createRedisStore } from '../gateway/src/cache/redis-store.js';
import { loadConfig } from '../gateway/src/config/index.js';
import { purgeResponseCache, type PurgeTarget } from '../gateway/src/subgraph/cache-purge.js';
import { FALLBACK_NAMESPACE } from '../gateway/src/subgraph/resilience.js';
import { isMainModule } from '../subgraphs/shared/main-module.js';

const USAGE = `usage:
  npm run cache -- purge --type TYPE [--key name=value[,name=value]]
  npm run cache -- purge --subgraph NAME
  npm run cache -- purge --all
options: --config FILE (gateway config; default GATEWAY_CONFIG)`;

/** Runs the command; resolves to the exit code. Exported for tests, which pass their own config file and output. */
export async function runCacheCommand(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
  out: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      type: { type: 'string' },
      key: { type: 'string' },
      subgraph: { type: 'string' },
      all: { type: 'boolean', default: false },
      config: { type: 'string', short: 'c' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
  });
  const target: PurgeTarget | undefined = values.all
    ? { all: true }
    : values.subgraph
      ? { subgraph: values.subgraph }
      : values.type
        ? { type: values.type, key: values.key }
        : undefined;
  if (values.help || positionals[0] !== 'purge' || !target) {
    out(USAGE);
    return values.help ? 0 : 2;
  }
  const config = loadConfig({ file: values.config ?? env.GATEWAY_CONFIG, env });
  const redis = connect(config.redis);
  if (!redis) {
    out('no Redis configured: an in-memory response cache lives in each gateway process and ends with it');
    return 2;
  }
  try {
    const deleted = await purgeResponseCache(createRedisStore({ redis, namespace: FALLBACK_NAMESPACE }), target);
    out(`purged ${deleted} response cache entr${deleted === 1 ? 'y' : 'ies'}`);
    return 0;
  } finally {
    redis.disconnect();
  }
}

function connect(redis: { url?: string | undefined; cluster?: { nodes: string[] } | undefined; keyPrefix: string }) {
  const options = { keyPrefix: redis.keyPrefix, maxRetriesPerRequest: 1 };
  const nodes = redis.cluster?.nodes.map((node) => new URL(node));
  if (nodes?.length) {
    const first = nodes[0] as URL;
    return new Cluster(
      nodes.map((url) => ({ host: url.hostname, port: Number(url.port || 6379) })),
      {
        keyPrefix: redis.keyPrefix,
        redisOptions: {
          ...options,
          password: first.password ? decodeURIComponent(first.password) : undefined,
          username: first.username || undefined,
          tls: first.protocol === 'rediss:' ? {} : undefined,
        },
      },
    );
  }
  return redis.url ? new Redis(redis.url, options) : undefined;
}

if (isMainModule(import.meta.url)) {
  runCacheCommand(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
}
