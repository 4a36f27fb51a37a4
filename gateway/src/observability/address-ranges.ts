import { BlockList, isIP } from 'node:net';

/** proxy-addr's (and so Fastify's `trustProxy`'s) names for address ranges, so one list serves both. */
const NAMED_RANGES: Record<string, string[]> = {
  loopback: ['127.0.0.0/8', '::1/128'],
  linklocal: ['169.254.0.0/16', 'fe80::/10'],
  uniquelocal: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
};

/** True for `10.1.2.3`, `::1`, `10.0.0.0/8`, `fd00::/8` and the names in {@link NAMED_RANGES}. */
export function isAddressOrRange(value: string): boolean {
  if (NAMED_RANGES[value]) return true;
  const [address = '', prefix, ...rest] = value.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  if (!/^\d{1,3}$/.test(prefix)) return false;
  return Number(prefix) <= (family === 4 ? 32 : 128);
}

/**
 * A matcher of peer addresses against a list of addresses and CIDR ranges (checked by the config
 * schema with {@link isAddressOrRange}). IPv4-mapped IPv6 peers (`::ffff:10.0.0.1`, what a
 * dual-stack socket reports) match the IPv4 entries.
 */
export function addressMatcher(entries: readonly string[]): (address: string | undefined) => boolean {
  const list = new BlockList();
  for (const entry of entries.flatMap((value) => NAMED_RANGES[value] ?? [value])) {
    const [address = '', prefix] = entry.split('/');
    const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (prefix === undefined) list.addAddress(address, family);
    else list.addSubnet(address, Number(prefix), family);
  }
  return (address) => {
    if (!address) return false;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
    const plain = mapped ?? address;
    const family = isIP(plain);
    if (family === 0) return false;
    return list.check(plain, family === 6 ? 'ipv6' : 'ipv4');
  };
}
