import { z } from 'zod';
import { port } from '../config-kit.js';

const AdminTokenSchema = z
  .object({
    name: z
      .string()
      .min(1)
      .regex(/^[A-Za-z0-9_.-]+$/)
      .describe('Who holds the token: written in the log line of every action taken with it (never the token itself).'),
    env: z.string().min(1).optional().describe('Environment variable holding the token (at least 16 characters).'),
    file: z.string().min(1).optional().describe('File holding the token (a mounted secret); surrounding blanks are ignored.'),
    access: z
      .enum(['read', 'write'])
      .default('write')
      .describe('`read`: the GET routes only; `write`: every route (resets, breaker pins, purges, reloads).'),
  })
  .strict()
  .refine((token) => (token.env === undefined) !== (token.file === undefined), {
    message: 'give exactly one of env and file',
  });

/** The `admin` section: the admin API's own listener and who may call it. */
export const AdminConfigSchema = z
  .object({
    host: z.string().min(1).default('127.0.0.1').describe('Listen address of the admin API (keep it on loopback or a private network).'),
    port: port.optional().describe('Listen port of the admin API (0 picks a free port). Unset: no admin API.'),
    tokens: z.array(AdminTokenSchema).default([]).describe('Bearer tokens the admin API accepts, each read from a secret.'),
  })
  .strict()
  .refine((admin) => admin.port === undefined || admin.tokens.length > 0, {
    path: ['tokens'],
    message: 'the admin API needs at least one token when admin.port is set',
  })
  .prefault({});

export type AdminConfig = z.output<typeof AdminConfigSchema>;
export type AdminToken = AdminConfig['tokens'][number];
