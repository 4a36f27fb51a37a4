import { readFileSync } from 'node:fs';

/** What identifies the version a source last answered with, sent back to ask "anything newer?". */
export interface SourceVersion {
  /** `url`: the answer's `ETag` (sent back as `If-None-Match`). */
  etag?: string;
  /** `url`: the answer's `Last-Modified` (sent back as `If-Modified-Since`). */
  lastModified?: string;
  /** `uplink`: the composition id (sent back as `ifAfterId`). */
  id?: string;
}

export type FetchOutcome =
  | { result: 'updated'; sdl: string; version: SourceVersion; minDelayMs?: number }
  | { result: 'unchanged'; version?: SourceVersion; minDelayMs?: number };

/** One remote place a supergraph is fetched from; throws when it cannot tell (unreachable, refused, malformed). */
export interface SupergraphFetcher {
  readonly kind: 'url' | 'uplink';
  /** Where it fetches from, without secrets (for logs and `/ready`). */
  readonly location: string;
  fetch(previous: SourceVersion | undefined, signal: AbortSignal): Promise<FetchOutcome>;
}

/** A secret named by config: an environment variable or a file (a mounted secret). */
export function readSecret(from: { env?: string | undefined; file?: string | undefined }, what: string, env: NodeJS.ProcessEnv): string {
  const value = from.env !== undefined ? env[from.env] : readFileSync(from.file as string, 'utf8');
  const trimmed = value?.trim();
  if (!trimmed)
    throw new Error(`${what}: ${from.env !== undefined ? `environment variable ${from.env}` : `file ${from.file}`} is empty or unset`);
  return trimmed;
}

/** The URL without user info, query or fragment: what logs and `/ready` may show. */
export function withoutSecrets(url: string): string {
  const parsed = new URL(url);
  parsed.username = '';
  parsed.password = '';
  parsed.search = '';
  parsed.hash = '';
  return parsed.toString();
}

/** `fetch failed` says nothing: undici puts the reason (ECONNREFUSED, a timeout) in `cause`. */
export function describeFetchError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  if (error.name === 'TimeoutError') return 'timed out';
  const cause = (error as { cause?: unknown }).cause;
  const causeText = cause instanceof Error ? ((cause as NodeJS.ErrnoException).code ?? cause.message) : undefined;
  return causeText ? `${error.message} (${causeText})` : error.message;
}

/** The body as text, refused once it passes `maxBytes` (a wrong URL must not fill the heap). */
export async function readBodyLimited(response: Response, maxBytes: number): Promise<string> {
  const declared = Number(response.headers.get('content-length') ?? Number.NaN);
  if (declared > maxBytes) {
    await response.body?.cancel();
    throw new Error(`the answer is ${declared} bytes, over supergraph.maxBytes (${maxBytes})`);
  }
  if (!response.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > maxBytes) {
      await response.body.cancel().catch(() => undefined);
      throw new Error(`the answer is over supergraph.maxBytes (${maxBytes})`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
