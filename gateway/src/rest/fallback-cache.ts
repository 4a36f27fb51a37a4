import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { KeptCopies } from '../cache/kept-copies.js';
import type { CacheStore } from '../cache/store.js';
import { withTimeout } from '../cache/timeout.js';

/** A kept REST answer: status, the headers worth replaying, the body (base64, bodies may be binary). */
export interface KeptAnswer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  /** Seconds since it was stored. */
  age: number;
}

/** Response headers replayed with a kept answer; the rest (dates, cookies, lengths) are not. */
const KEPT_HEADERS = ['content-type', 'content-language', 'etag', 'last-modified', 'cache-control', 'vary'];

/**
 * The stale-if-error copies of one route's GET answers, in the gateway's fallback {@link CacheStore}
 * (Redis when configured, so every instance serves the same copies). The key is a hash of the
 * route, the caller's `clientKey` (left out for public routes), the upstream path and query, and
 * `Accept`: one caller never gets another's copy. Which answers are written follows the subgraphs'
 * rule ({@link KeptCopies}): a copy's answers are looked at once per `refreshAfterMs`, and one looked
 * at is written when it differs from the copy, when the copy is gone, or when the copy is half its
 * TTL old; the others stream to the client without being collected.
 */
export class RestFallbackCache {
  private readonly copies = new KeptCopies();

  constructor(
    private readonly store: CacheStore,
    private readonly route: string,
    private readonly options: { ttlMs: number; maxBodyBytes: number; readTimeoutMs: number; refreshAfterMs: number },
  ) {}

  key(identity: string, target: string, accept: string | undefined): string {
    const hash = createHash('sha256')
      .update(identity)
      .update('\0')
      .update(target)
      .update('\0')
      .update(accept ?? '')
      .digest('base64url');
    return `rest:${this.route}:${hash}`;
  }

  async get(key: string): Promise<KeptAnswer | undefined> {
    // A slow or failing store is a miss: the client is already waiting on a failed upstream.
    const entry = await withTimeout(this.store.get(key), this.options.readTimeoutMs).catch(() => undefined);
    if (!entry) return undefined;
    try {
      const parsed = JSON.parse(entry.value) as { status: number; headers: Record<string, string>; body: string };
      // An unchanged answer seen since the copy was written makes the copy that much younger.
      const confirmedAt = this.copies.confirmedAt(key, entry.storedAt, entry.value);
      return {
        status: parsed.status,
        headers: parsed.headers,
        body: Buffer.from(parsed.body, 'base64'),
        age: Math.max(0, Math.floor((Date.now() - confirmedAt) / 1000)),
      };
    } catch {
      return undefined;
    }
  }

  /**
   * A pass-through stream for a 200 answer that also collects its bytes, up to `maxBodyBytes`, and
   * keeps them when the body ends complete (see {@link keep}). Bigger bodies stream on and are not
   * kept. Undefined when this copy's last answer was looked at less than `refreshAfterMs` ago: the
   * answer needs no recorder.
   */
  recorder(key: string, headers: Record<string, string | string[] | undefined>, onError: (error: unknown) => void): Transform | undefined {
    if (this.copies.lookedAtLately(key, this.settings)) return undefined;
    const kept: Record<string, string> = {};
    for (const name of KEPT_HEADERS) {
      const value = headers[name];
      if (typeof value === 'string') kept[name] = value;
    }
    const { options } = this;
    const keep = (value: string) => this.keep(key, value, onError);
    let chunks: Buffer[] | undefined = [];
    let size = 0;
    return new Transform({
      transform(chunk: Buffer, _encoding, callback: TransformCallback) {
        if (chunks) {
          size += chunk.length;
          if (size > options.maxBodyBytes) chunks = undefined;
          else chunks.push(chunk);
        }
        callback(null, chunk);
      },
      flush(callback: TransformCallback) {
        if (chunks) keep(JSON.stringify({ status: 200, headers: kept, body: Buffer.concat(chunks).toString('base64') }));
        callback();
      },
    });
  }

  private get settings() {
    return { cacheTtlMs: this.options.ttlMs, refreshAfterMs: this.options.refreshAfterMs };
  }

  /** Writes a complete answer (`value`: its stored form) if its copy is missing, old or different; never awaited. */
  private keep(key: string, value: string, onError: (error: unknown) => void): void {
    const { store, copies, settings } = this;
    copies.keep(
      copies.decide(key, value, settings),
      key,
      settings,
      { write: () => store.set(key, value, settings.cacheTtlMs), present: () => store.has(key) },
      onError,
    );
  }
}
