import { isIP } from 'node:net';

/** proxy-addr's (and so Fastify's `trustProxy`'s) names for address ranges, so one list serves both. */
const NAMED_RANGES = new Set(['loopback', 'linklocal', 'uniquelocal']);

/**
 * True for `10.1.2.3`, `::1`, `10.0.0.0/8`, `fd00::/8` and the names in {@link NAMED_RANGES}. The
 * list is then matched by `@fastify/proxy-addr`'s `compile`, the matcher Fastify's `trustProxy`
 * uses for `server.trustedProxies`.
 */
export function isAddressOrRange(value: string): boolean {
  if (NAMED_RANGES.has(value)) return true;
  const [address = '', prefix, ...rest] = value.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  if (!/^\d{1,3}$/.test(prefix)) return false;
  return Number(prefix) <= (family === 4 ? 32 : 128);
}
