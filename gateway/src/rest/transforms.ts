import type { IncomingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import type { Principal } from '../auth/principal.js';
import type { TransformConfig, TransformSet } from './transform-config.js';

/** What a template value may use: the route's path parameters and the principal. */
export interface TemplateScope {
  params: Readonly<Record<string, string>>;
  principal: Principal | undefined;
}

type Template = (scope: TemplateScope) => string | undefined;

const PLACEHOLDER = /\$\((path\.[A-Za-z0-9_]+|principal\.id|principal\.tier|principal\.claim\.[A-Za-z0-9_:.-]+)\)/g;

/** Compiles `$(…)` placeholders; the value is undefined (the step skipped) when one has nothing to fill in. */
function compileTemplate(value: string): Template {
  if (!value.includes('$(')) return () => value;
  return (scope) => {
    let missing = false;
    const filled = value.replace(PLACEHOLDER, (_, name: string) => {
      let found: unknown;
      if (name.startsWith('path.')) found = scope.params[name.slice(5)];
      else if (name === 'principal.id') found = scope.principal?.kind === 'anonymous' ? undefined : scope.principal?.id;
      else if (name === 'principal.tier') found = scope.principal?.tier;
      else found = scope.principal?.claims?.[name.slice('principal.claim.'.length)];
      if (typeof found === 'number' || typeof found === 'boolean') found = String(found);
      if (typeof found !== 'string') missing = true;
      return typeof found === 'string' ? found : '';
    });
    return missing ? undefined : filled;
  };
}

/** One compiled set of steps on a map of names to values (headers or query parameters). */
export interface CompiledSet {
  apply(values: Map<string, string | string[]>, scope: TemplateScope): void;
}

function compileSet(set: TransformSet | undefined, fold: boolean): CompiledSet | undefined {
  if (!set) return undefined;
  const name = (value: string) => (fold ? value.toLowerCase() : value);
  const remove = set.remove.map(name);
  const rename = Object.entries(set.rename).map(([from, to]) => [name(from), name(to)] as const);
  const replace = Object.entries(set.replace).map(([key, value]) => [name(key), compileTemplate(value)] as const);
  const add = Object.entries(set.add).map(([key, value]) => [name(key), compileTemplate(value)] as const);
  return {
    apply(values, scope) {
      for (const key of remove) values.delete(key);
      for (const [from, to] of rename) {
        const value = values.get(from);
        if (value === undefined) continue;
        values.delete(from);
        values.set(to, value);
      }
      for (const [key, template] of replace) {
        if (!values.has(key)) continue;
        const value = template(scope);
        if (value !== undefined) values.set(key, value);
      }
      for (const [key, template] of add) {
        if (values.has(key)) continue;
        const value = template(scope);
        if (value !== undefined) values.set(key, value);
      }
    },
  };
}

export interface RouteTransforms {
  requestHeaders?: CompiledSet | undefined;
  query?: CompiledSet | undefined;
  responseHeaders?: CompiledSet | undefined;
  json?: { remove: string[][]; rename: [string[], string][]; maxBytes: number } | undefined;
}

/** Compiles a route's transforms once; undefined when it has none. */
export function compileTransforms(config: TransformConfig | undefined): RouteTransforms | undefined {
  if (!config) return undefined;
  const json = config.response?.json;
  return {
    requestHeaders: compileSet(config.request?.headers, true),
    query: compileSet(config.request?.query, false),
    responseHeaders: compileSet(config.response?.headers, true),
    json: json && {
      remove: json.remove.map((path) => path.split('.')),
      rename: Object.entries(json.rename).map(([path, to]) => [path.split('.'), to]),
      maxBytes: json.maxBytes,
    },
  };
}

type Headers = Record<string, string | string[] | undefined>;

/** Headers with a set applied (names lower-cased). */
export function transformHeaders(set: CompiledSet | undefined, headers: Headers, scope: TemplateScope): Headers {
  if (!set) return headers;
  const values = new Map<string, string | string[]>();
  for (const [key, value] of Object.entries(headers)) if (value !== undefined) values.set(key.toLowerCase(), value);
  set.apply(values, scope);
  return Object.fromEntries(values) as IncomingHttpHeaders;
}

/** A raw query string (`?…` or empty) with a set applied; untouched (still as sent) without one. */
export function transformQuery(set: CompiledSet | undefined, query: string, scope: TemplateScope): string {
  if (!set) return query;
  const values = new Map<string, string | string[]>();
  for (const [key, value] of new URLSearchParams(query.slice(1))) {
    const existing = values.get(key);
    values.set(key, existing === undefined ? value : [...(Array.isArray(existing) ? existing : [existing]), value]);
  }
  set.apply(values, scope);
  const out = new URLSearchParams();
  for (const [key, value] of values) for (const one of Array.isArray(value) ? value : [value]) out.append(key, one);
  const text = out.toString();
  return text ? `?${text}` : '';
}

/** Why a JSON answer was not transformed (for the log), or the transformed body. */
export type JsonOutcome = { body: Buffer } | { skipped: string; stream: Readable };

/**
 * Reads a JSON answer up to `maxBytes` and applies the field steps. Anything else streams on
 * untouched: not `application/json` (or `+json`), compressed, larger than the limit (what was read
 * is sent first, then the rest as it comes), or not valid JSON.
 */
export async function transformJson(
  json: NonNullable<RouteTransforms['json']>,
  headers: IncomingHttpHeaders,
  stream: Readable,
): Promise<JsonOutcome> {
  const type = String(headers['content-type'] ?? '').toLowerCase();
  if (!/^application\/([\w.+-]+\+)?json\b/.test(type)) return { skipped: 'not JSON', stream };
  if (headers['content-encoding'] && headers['content-encoding'] !== 'identity') return { skipped: 'compressed', stream };
  if (Number(headers['content-length'] ?? 0) > json.maxBytes) return { skipped: 'larger than maxBytes', stream };
  const chunks: Buffer[] = [];
  let size = 0;
  const iterator = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  for (;;) {
    const next = await iterator.next();
    if (next.done) break;
    chunks.push(next.value);
    size += next.value.length;
    if (size > json.maxBytes) {
      const rest = async function* () {
        yield* chunks;
        for (let more = await iterator.next(); !more.done; more = await iterator.next()) yield more.value;
      };
      return { skipped: 'larger than maxBytes', stream: Readable.from(rest()) };
    }
  }
  const raw = Buffer.concat(chunks);
  let document: unknown;
  try {
    document = JSON.parse(raw.toString('utf8'));
  } catch {
    return { skipped: 'not valid JSON', stream: Readable.from([raw]) };
  }
  for (const path of json.remove) visit(document, path, (parent, key) => delete parent[key]);
  for (const [path, to] of json.rename)
    visit(document, path, (parent, key) => {
      parent[to] = parent[key];
      delete parent[key];
    });
  return { body: Buffer.from(JSON.stringify(document)) };
}

/** Calls `act` on each object that holds the last field of `path` (through arrays: each element). */
function visit(node: unknown, path: readonly string[], act: (parent: Record<string, unknown>, key: string) => void): void {
  if (Array.isArray(node)) {
    for (const element of node) visit(element, path, act);
    return;
  }
  if (typeof node !== 'object' || node === null) return;
  const [head, ...rest] = path as [string, ...string[]];
  const object = node as Record<string, unknown>;
  if (!Object.prototype.hasOwnProperty.call(object, head)) return;
  if (rest.length === 0) act(object, head);
  else visit(object[head], rest, act);
}
