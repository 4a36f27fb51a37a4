import type { HeaderRule } from './config.js';

/**
 * Compiles and applies header rules (see config.ts for their shape). Pure and cheap per call:
 * regular expressions are compiled once, by {@link compileHeaderRules}.
 *
 * A rule list runs in order over an output set of headers:
 * - `propagate` copies from the input (the client's request, or an upstream's answer): `named`
 *   (optionally under `rename`, or its `default` when absent), or every header `matching` a regex;
 * - `insert` sets a static value, a claim of the caller's token, its tier or its scopes;
 * - `remove` deletes from the output, by name or by regex.
 *
 * Reserved names (hop-by-hop headers, the identity headers, the request id, ...) are never copied,
 * set or removed by a rule: config validation refuses a rule that names one ({@link ruleProblems}),
 * and `matching` skips them. Credential headers (`Authorization`, the API key header, `Cookie`) are
 * copied only by a rule that names them: `matching` never picks them up.
 */

/** Headers no rule may touch, and headers only a rule naming them may copy (all lower-case). */
export interface HeaderGuard {
  /** Never copied, set or removed by a rule, with why (the config error says it). */
  readonly reserved: ReadonlyMap<string, string>;
  /** Copied only by a `propagate` that names them. */
  readonly namedOnly: ReadonlySet<string>;
}

/**
 * Hop-by-hop headers (RFC 9110 §7.6.1) plus the non-standard ones proxies also drop; never forwarded
 * either way. `Expect` is answered on the client's hop (Node sends the `100 Continue`), and undici
 * refuses to send it: forwarded, every upload that asks for it would fail as an upstream error.
 */
export const HOP_BY_HOP = [
  'connection',
  'expect',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
];

/** The hop-by-hop headers and the message framing: no header rule may name them. */
export const HOP_BY_HOP_AND_FRAMING = [...HOP_BY_HOP, 'host', 'content-length'];

/** What the gateway sets on a subgraph request itself (the body is the gateway's, not the client's). */
export const SUBGRAPH_REQUEST_OWN = ['content-type', 'content-encoding', 'accept', 'accept-encoding'];

/** What the gateway sets on its own answer: framing and body type; `Cache-Control` is the response cache's. */
export const RESPONSE_OWN = ['content-type', 'content-encoding', 'cache-control', 'date'];

/** CORS' answer headers: the gateway's CORS policy (`server.cors`, a route's `cors`) alone sets them. */
export const CORS_ANSWER = [
  'access-control-allow-origin',
  'access-control-allow-credentials',
  'access-control-allow-headers',
  'access-control-allow-methods',
  'access-control-expose-headers',
  'access-control-max-age',
];

/** A guard from lists of reserved names, each list with its reason. */
export function headerGuard(reserved: readonly (readonly [readonly string[], string])[], namedOnly: readonly string[]): HeaderGuard {
  const map = new Map<string, string>();
  for (const [names, why] of reserved) for (const name of names) if (!map.has(name.toLowerCase())) map.set(name.toLowerCase(), why);
  return { reserved: map, namedOnly: new Set(namedOnly.map((name) => name.toLowerCase())) };
}

/** One problem of a rule list: the path below the list (`[index, kind, key]`) and the message. */
export interface RuleProblem {
  path: (string | number)[];
  message: string;
}

/** Rules that name a reserved header; config validation reports each one with its key. */
export function ruleProblems(rules: readonly HeaderRule[], guard: HeaderGuard): RuleProblem[] {
  const problems: RuleProblem[] = [];
  const check = (path: (string | number)[], name: string | undefined) => {
    const why = name === undefined ? undefined : guard.reserved.get(name);
    if (why) problems.push({ path, message: `"${name}" cannot be used in a header rule: ${why}` });
  };
  rules.forEach((rule, index) => {
    if (rule.propagate) {
      check([index, 'propagate', 'named'], rule.propagate.named);
      check([index, 'propagate', 'rename'], rule.propagate.rename);
    }
    if (rule.insert) check([index, 'insert', 'name'], rule.insert.name);
    if (rule.remove) check([index, 'remove', 'named'], rule.remove.named);
  });
  return problems;
}

/** What an `insert` may read about the caller. */
export interface HeaderPrincipal {
  readonly tier: string;
  readonly scopes: readonly string[];
  /** The verified token's claims (callers with a token only). */
  readonly claims?: Readonly<Record<string, unknown>> | undefined;
}

/** Input headers by lower-case name: Apollo's HeaderMap, fetch-style headers, or {@link headerInputOf} a Node record. */
export interface HeaderInput extends Iterable<readonly [string, string | readonly string[]]> {
  get(name: string): string | readonly string[] | null | undefined;
}

/** The output: lower-case name → values (several only for headers sent as several lines, e.g. `Set-Cookie`). */
export type HeaderOutput = Map<string, string[]>;

type Step =
  | { kind: 'named'; name: string; as: string; fallback: string | undefined }
  | { kind: 'matching'; regex: RegExp }
  | { kind: 'insert'; name: string; value: (principal: HeaderPrincipal | undefined) => string | undefined }
  | { kind: 'remove'; name: string }
  | { kind: 'removeMatching'; regex: RegExp };

export interface CompiledHeaderRules {
  /** No rules: callers skip the work. */
  readonly empty: boolean;
  /** Runs the rules over `output` (a fresh empty set when absent), copying from `input`; returns `output`. */
  apply(input: HeaderInput, principal?: HeaderPrincipal, output?: HeaderOutput): HeaderOutput;
}

/** Compiles a rule list (already validated, see config.ts) once; applying it allocates only the output. */
export function compileHeaderRules(rules: readonly HeaderRule[], guard: HeaderGuard): CompiledHeaderRules {
  const steps = rules.map(compileRule);
  const allowed = (name: string) => !guard.reserved.has(name);
  return {
    empty: steps.length === 0,
    apply(input, principal, output = new Map()) {
      // Headers the input's `Connection` names belong to its hop too (RFC 9110 §7.6.1): never copied.
      let listed: ReadonlySet<string> | undefined;
      const copyable = (name: string) => allowed(name) && !(listed ??= connectionListed(input.get('connection'))).has(name);
      for (const step of steps) {
        switch (step.kind) {
          case 'named': {
            if (!allowed(step.name) || !allowed(step.as)) break;
            // A header its hop's Connection lists is as good as absent: the rule's default applies.
            const values = copyable(step.name) ? safeValuesOf(input.get(step.name)) : [];
            if (values.length) output.set(step.as, values);
            else if (step.fallback !== undefined) output.set(step.as, [step.fallback]);
            break;
          }
          case 'matching':
            for (const [name, value] of input) {
              if (!guard.namedOnly.has(name) && step.regex.test(name) && copyable(name)) {
                const values = safeValuesOf(value);
                if (values.length) output.set(name, values);
              }
            }
            break;
          case 'insert': {
            const value = allowed(step.name) ? step.value(principal) : undefined;
            if (value !== undefined) output.set(step.name, [value]);
            break;
          }
          case 'remove':
            output.delete(step.name);
            break;
          case 'removeMatching':
            for (const name of [...output.keys()]) if (allowed(name) && step.regex.test(name)) output.delete(name);
            break;
        }
      }
      return output;
    },
  };
}

function compileRule(rule: HeaderRule): Step {
  if (rule.propagate) {
    const { named, rename, default: fallback, matching } = rule.propagate;
    if (named !== undefined) return { kind: 'named', name: named, as: rename ?? named, fallback };
    return { kind: 'matching', regex: new RegExp(matching as string, 'i') };
  }
  if (rule.insert) {
    const { name, value, from_claim: claim, from_principal: field, default: fallback } = rule.insert;
    if (value !== undefined) return { kind: 'insert', name, value: () => value };
    if (claim !== undefined) return { kind: 'insert', name, value: (principal) => claimValue(principal?.claims?.[claim]) ?? fallback };
    return {
      kind: 'insert',
      name,
      value: (principal) => {
        if (!principal) return fallback;
        if (field === 'tier') return principal.tier || fallback;
        return principal.scopes.length ? principal.scopes.join(' ') : fallback;
      },
    };
  }
  const { named, matching } = rule.remove ?? {};
  if (named !== undefined) return { kind: 'remove', name: named };
  return { kind: 'removeMatching', regex: new RegExp(matching as string, 'i') };
}

const SAFE_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** A claim as a header value: strings, numbers and booleans as written, a list of them space-separated; anything else (or a value with control characters): none. */
function claimValue(claim: unknown): string | undefined {
  let value: string | undefined;
  if (typeof claim === 'string') value = claim;
  else if (typeof claim === 'number' || typeof claim === 'boolean') value = String(claim);
  else if (Array.isArray(claim) && claim.every((item) => ['string', 'number', 'boolean'].includes(typeof item))) value = claim.join(' ');
  return value !== undefined && value.length <= 4096 && SAFE_VALUE.test(value) ? value : undefined;
}

/**
 * The values a header can carry on: those a request line can hold (no control characters, nothing
 * past U+00FF). HTTP parsers already refuse the others, but a subscription's `connectionParams`
 * are JSON, and a value undici refuses would fail the subgraph call as if the subgraph had.
 */
function safeValuesOf(value: string | readonly string[] | null | undefined): string[] {
  if (value === undefined || value === null) return [];
  const values = typeof value === 'string' ? [value] : [...value];
  return values.every((one) => SAFE_VALUE.test(one)) ? values : values.filter((one) => SAFE_VALUE.test(one));
}

const NONE_LISTED: ReadonlySet<string> = new Set();

/** The header names a `Connection` header lists (besides its options such as `keep-alive`), lower-cased. */
export function connectionListed(connection: string | readonly string[] | null | undefined): ReadonlySet<string> {
  if (connection === undefined || connection === null) return NONE_LISTED;
  const names = new Set<string>();
  for (const value of typeof connection === 'string' ? [connection] : connection) {
    for (const name of value.split(',')) {
      const trimmed = name.trim().toLowerCase();
      if (trimmed) names.add(trimmed);
    }
  }
  return names;
}

/** Node/Fastify headers (`IncomingHttpHeaders`) as rule input. */
export function headerInputOf(headers: Readonly<Record<string, string | readonly string[] | number | undefined>>): HeaderInput {
  const input = new Map<string, string | readonly string[]>();
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    input.set(name.toLowerCase(), typeof value === 'number' ? String(value) : value);
  }
  return input;
}
