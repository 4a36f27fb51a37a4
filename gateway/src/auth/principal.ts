import { isIPv6 } from 'node:net';

/**
 * Who is calling: the one value the auth layer produces for every request, GraphQL or REST. Later
 * plugins (authorization, rate limiting, the REST passthrough) read it from the request state and
 * subgraphs learn it from the headers in {@link principalHeaders}.
 */
export type PrincipalKind = 'user' | 'api_key' | 'anonymous';

export interface Principal {
  readonly kind: PrincipalKind;
  /** The token's subject (`sub` by default), an API key's owner, or the client IP of an anonymous caller. */
  readonly id: string;
  /** Rate-limit tier: from the token's tier claim, the API key record, or `anonymous`. */
  readonly tier: string;
  readonly scopes: readonly string[];
  /** The token's issuer, or `api-key`; absent for anonymous callers. */
  readonly issuer?: string | undefined;
  /** The verified token's claims (`user` principals), for header rules and REST transforms that pass one on. */
  readonly claims?: Readonly<Record<string, unknown>> | undefined;
  /** The API key id (never the key itself) for `api_key` principals. */
  readonly keyId?: string | undefined;
  /** The client's address (see `server.trustedProxies`). */
  readonly clientIp: string;
  /**
   * A stable identity that never collides across kinds or issuers, for budgets and logs:
   * `user:<issuer>:<id>`, `key:<keyId>` or `ip:<clientIp>`.
   */
  readonly clientKey: string;
}

export const ANONYMOUS_TIER = 'anonymous';

export function anonymousPrincipal(clientIp: string): Principal {
  return { kind: 'anonymous', id: clientIp, tier: ANONYMOUS_TIER, scopes: [], clientIp, clientKey: `ip:${addressKey(clientIp)}` };
}

/**
 * Whose budget an anonymous caller's address draws on: an IPv4 address itself (an IPv4-mapped IPv6
 * one included), an IPv6 address's /64. A single host holds a whole /64 and may pick any address in
 * it for each request, so keying by the full address would give it a fresh budget every time.
 */
export function addressKey(address: string): string {
  if (!isIPv6(address)) return address;
  const groups = ipv6Groups(address.split('%')[0] as string);
  // IPv4-mapped (`::ffff:1.2.3.4`, in any spelling) or the old IPv4-compatible form: the IPv4 address.
  if (groups.slice(0, 5).every((group) => group === 0) && (groups[5] === 0xffff || groups[5] === 0)) {
    const [high = 0, low = 0] = groups.slice(6);
    if (groups[5] === 0xffff || high !== 0) return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
  }
  return `${groups
    .slice(0, 4)
    .map((group) => group.toString(16))
    .join(':')}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address (`::` expanded, a trailing dotted IPv4 as two groups). */
function ipv6Groups(address: string): number[] {
  const groupsOf = (part: string) =>
    part
      ? part.split(':').flatMap((group) => {
          if (!group.includes('.')) return [Number.parseInt(group, 16)];
          const [a = 0, b = 0, c = 0, d = 0] = group.split('.').map(Number);
          return [(a << 8) | b, (c << 8) | d];
        })
      : [];
  const [head = '', tail] = address.split('::');
  const left = groupsOf(head);
  if (tail === undefined) return left;
  const right = groupsOf(tail);
  return [...left, ...Array<number>(Math.max(0, 8 - left.length - right.length)).fill(0), ...right];
}

/** Names of the headers that carry the principal to subgraphs (and upstream REST services). */
/** Whether the principal's tier is one of `allowed.tiers` or it holds one of `allowed.scopes` (an anonymous caller: never). */
export function hasTierOrScope(
  principal: Principal | undefined,
  allowed: { readonly tiers: readonly string[]; readonly scopes: readonly string[] },
): boolean {
  if (!principal) return false;
  return allowed.tiers.includes(principal.tier) || principal.scopes.some((scope) => allowed.scopes.includes(scope));
}

export interface PrincipalHeaderNames {
  idHeader: string;
  tierHeader: string;
  scopesHeader: string;
  kindHeader: string;
}

/** Every principal header name, lower-case: these are removed from whatever a client sent. */
export function principalHeaderNames(names: PrincipalHeaderNames): string[] {
  return [names.idHeader, names.tierHeader, names.scopesHeader, names.kindHeader].map((name) => name.toLowerCase());
}

/**
 * The headers that tell an upstream who is calling. An anonymous caller gets only its kind and
 * tier: no id header, so an upstream that trusts `x-user-id` never sees one it did not earn.
 */
export function principalHeaders(principal: Principal | undefined, names: PrincipalHeaderNames): Record<string, string> {
  if (!principal) return {};
  const headers: Record<string, string> = {
    [names.kindHeader.toLowerCase()]: principal.kind,
    [names.tierHeader.toLowerCase()]: principal.tier,
  };
  if (principal.kind !== 'anonymous') {
    headers[names.idHeader.toLowerCase()] = principal.id;
    headers[names.scopesHeader.toLowerCase()] = principal.scopes.join(' ');
  }
  return headers;
}

/** A principal has every scope of one of the alternatives (`@requiresScopes` semantics: OR of ANDs). */
export function hasScopes(principal: Principal | undefined, anyOf: readonly (readonly string[])[]): boolean {
  const granted = new Set(principal?.scopes ?? []);
  return anyOf.some((all) => all.every((scope) => granted.has(scope)));
}

declare module '../context.js' {
  interface RequestState {
    /** Who is calling; set by the auth hook before any GraphQL or REST work, read by every later plugin. */
    principal?: Principal | undefined;
  }
}
