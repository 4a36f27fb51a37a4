import { z } from 'zod';
import { durationMs } from '../config-kit.js';

/** The `redis` section: one server or a Redis Cluster, timeouts, and the prefix of every key. */

const redisUrl = z.string().regex(/^rediss?:\/\//, 'must start with redis:// or rediss://');

export const RedisConfigSchema = z
  .object({
    url: redisUrl.optional().describe('Redis URL of one server. Unset (and no `redis.cluster`): the gateway runs on its in-memory store.'),
    cluster: z
      .object({
        nodes: z
          .array(
            redisUrl.refine(
              (value) => URL.canParse(value) && new URL(value).port !== '',
              'a node is `redis://host:port` (the port is required)',
            ),
          )
          .min(1)
          .describe(
            'Seed nodes of a Redis Cluster (`redis://host:port`, comma-separated in the env variable); the others are discovered from them. Credentials and TLS (`rediss://`) are taken from the first. Exclusive with `redis.url`.',
          ),
      })
      .strict()
      .optional()
      .describe('Redis Cluster instead of one server (see "Scaling out").'),
    connectTimeoutMs: durationMs.default(2_000).describe('Timeout of one connection attempt.'),
    commandTimeoutMs: durationMs
      .default(1_000)
      .describe(
        'Longest any Redis command may take before it fails (a hung Redis must not hang requests); budgets and cache reads have shorter deadlines of their own.',
      ),
    keyPrefix: z
      .string()
      .regex(
        /^[^{}]*$/,
        "must not contain `{` or `}`: hash tags belong to the keys (a brace here would move every key into one cluster slot or split a client's keys)",
      )
      .default('gw:')
      .describe('Prefix of every key (and pub/sub channel) the gateway writes.'),
  })
  .strict()
  .superRefine((redis, ctx) => {
    if (redis.url !== undefined && redis.cluster !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['cluster'], message: 'give redis.url (one server) or redis.cluster (a cluster), not both' });
    }
  })
  .prefault({});

export type RedisConfig = z.output<typeof RedisConfigSchema>;
