/**
 * `npm run token -- --sub user-1 --tier pro --scopes "read:email orders:write" [--ttl 3600]`
 *
 * Prints a JWT signed with the demo's DEV-ONLY secret (gateway/src/auth/dev-secret.ts), which the
 * demo gateway (`npm start`) trusts as issuer `gateway-demo`. Refused when NODE_ENV=production.
 */
import { parseArgs } from 'node:util';
import { signDevToken } from '../gateway/src/auth/dev-secret.js';

const USAGE = 'usage: npm run token -- --sub USER_ID [--tier TIER] [--scopes "SCOPE SCOPE"] [--ttl SECONDS]';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sub: { type: 'string' },
      tier: { type: 'string' },
      scopes: { type: 'string' },
      ttl: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (!values.sub) throw new Error(`--sub is required\n${USAGE}`);
  const ttl = values.ttl === undefined ? 3600 : Number(values.ttl);
  if (!Number.isInteger(ttl) || ttl <= 0) throw new Error('--ttl must be a positive number of seconds');
  const token = await signDevToken({
    sub: values.sub,
    tier: values.tier,
    scopes: (values.scopes ?? '').split(/\s+/).filter(Boolean),
    ttlSeconds: ttl,
  });
  process.stdout.write(`${token}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`token: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
