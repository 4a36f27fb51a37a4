import { Kind, parse, type ConstDirectiveNode } from 'graphql';

/**
 * The security specs the gateway enforces itself (gateway/src/auth/authorization-plugin.ts).
 * Only these exact versions: a newer version may mean something else, so it stays `for: SECURITY`
 * and @apollo/gateway refuses to load it, which is the safe failure.
 */
export const ENFORCED_SECURITY_VERSION = 'v0.1';
export const ENFORCED_SECURITY_SPECS = new RegExp(
  `^https://specs\\.apollo\\.dev/(authenticated|requiresScopes)/${ENFORCED_SECURITY_VERSION.replaceAll('.', '\\.')}$`,
);

/**
 * `@apollo/gateway` refuses a supergraph that links the `authenticated` / `requiresScopes` specs
 * `for: SECURITY` (UNSUPPORTED_LINKED_FEATURE), and would enforce none of them anyway. This returns
 * a copy of the SDL in which those two `@link`s lose their `for:` argument; the directives stay, and
 * the authorization plugin, which every gateway installs, reads and enforces them.
 *
 * Any other `for: SECURITY` link (e.g. `@policy`) is left alone, so the gateway still refuses a
 * supergraph whose security rules nobody would enforce. The text is spliced, not re-printed, so
 * everything else in the file is byte for byte the same.
 */
export function withEnforcedSecurityLinksUnmarked(sdl: string): string {
  const document = parse(sdl);
  const cuts: { start: number; end: number }[] = [];
  for (const definition of document.definitions) {
    if (definition.kind !== Kind.SCHEMA_DEFINITION && definition.kind !== Kind.SCHEMA_EXTENSION) continue;
    for (const directive of definition.directives ?? []) {
      const purpose = securityPurposeOf(directive);
      if (purpose?.loc) cuts.push({ start: purpose.loc.start, end: purpose.loc.end });
    }
  }
  let result = sdl;
  for (const { start, end } of cuts.sort((a, b) => b.start - a.start)) result = result.slice(0, start) + result.slice(end);
  return result;
}

function securityPurposeOf(directive: ConstDirectiveNode) {
  if (directive.name.value !== 'link') return undefined;
  const url = directive.arguments?.find((arg) => arg.name.value === 'url')?.value;
  if (url?.kind !== Kind.STRING || !ENFORCED_SECURITY_SPECS.test(url.value)) return undefined;
  const purpose = directive.arguments?.find((arg) => arg.name.value === 'for');
  return purpose?.value.kind === Kind.ENUM && purpose.value.value === 'SECURITY' ? purpose : undefined;
}
