import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import { hasTierOrScope, type Principal } from '../auth/principal.js';
import type { ErrorCode } from '../errors.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import type { ApqStore } from './apq-store.js';
import { sha256Hex, type TrustedManifest } from './manifest.js';
import { isRecord } from '../records.js';

export type TrustedMode = 'off' | 'allow-list' | 'log-unknown';

export interface DocumentResolverOptions {
  /** The APQ store; undefined: APQ is off (a persisted-query hash is 400 PERSISTED_QUERY_NOT_SUPPORTED). */
  apq?: ApqStore | undefined;
  /** The trusted documents; undefined: no manifest. */
  manifest?: TrustedManifest | undefined;
  /** @default 'off' */
  mode?: TrustedMode;
  /** In allow-list mode, refuse a full `query` even when it is listed. @default false */
  requireId?: boolean;
  /** Callers who may send unlisted documents in allow-list mode. @default { tiers: [], scopes: [] } */
  bypass?: { tiers: readonly string[]; scopes: readonly string[] };
  logger: Logger;
  metrics?: GatewayMetrics | undefined;
}

/** The GraphQL-over-HTTP parameters of one operation (a POST body or one batch entry; GET: `extensions` already decoded). */
export type OperationParams = Record<string, unknown>;

export type Resolution =
  | {
      ok: true;
      /** The parameters to hand Apollo: `query` filled in, `documentId` and `extensions.persistedQuery` removed. */
      params: OperationParams;
      /** Set when the request registers an APQ document: store it once Apollo has accepted the document. */
      register?: { hash: string; query: string } | undefined;
      /** Id of the manifest entry that served the document, for the log. */
      trustedId?: string | undefined;
    }
  | { ok: false; code: ErrorCode; message?: string | undefined };

const SHA256_HEX = /^[a-f0-9]{64}$/i;
/** Unlisted hashes remembered so log-unknown mode logs each once per process, not once per request. */
const LOGGED_UNKNOWN_MAX = 10_000;

/**
 * Finds the document of one operation before Apollo parses anything, in this order:
 *
 * 1. a `documentId` (GraphQL-over-HTTP trusted documents proposal, `sha256:<hex>` or `<hex>`) is
 *    looked up in the manifest only;
 * 2. `extensions.persistedQuery` (Apollo's APQ): version 1 and a hex SHA-256 hash, which must match
 *    the `query` when both are sent (400 PERSISTED_QUERY_HASH_MISMATCH);
 * 3. trusted documents: a listed id serves the manifest's body (in every mode); in `allow-list`
 *    mode anything else is refused (PERSISTED_QUERY_NOT_IN_LIST), unless the caller is exempt;
 *    in `log-unknown` mode it is logged, counted and run;
 * 4. APQ: a hash alone is looked up (miss: PERSISTED_QUERY_NOT_FOUND, so the client sends the
 *    document); a hash with its query is registered once Apollo has validated it. APQ never
 *    registers in allow-list mode: the list is the only source of documents there.
 */
export class DocumentResolver {
  private trusted: TrustedSettings;
  private readonly loggedUnknown = new LRUCache<string, true>({ max: LOGGED_UNKNOWN_MAX });

  constructor(private readonly options: DocumentResolverOptions) {
    this.trusted = trustedSettings(options);
  }

  private get mode(): TrustedMode {
    return this.trusted.mode;
  }

  /** Replaces the trusted documents and their rules (a config reload); operations resolved from now on use them. */
  setTrusted(settings: Pick<DocumentResolverOptions, 'manifest' | 'mode' | 'requireId' | 'bypass'>): void {
    this.trusted = trustedSettings(settings);
  }

  async resolve(params: OperationParams, principal: Principal | undefined): Promise<Resolution> {
    const { documentId, ...rest } = params;
    const query = typeof params.query === 'string' && params.query !== '' ? params.query : undefined;
    const extensions = isRecord(params.extensions) ? params.extensions : undefined;
    const persisted = extensions?.persistedQuery;

    let hash: string | undefined;
    if (documentId !== undefined && documentId !== null) {
      if (typeof documentId !== 'string') return { ok: false, code: 'BAD_REQUEST', message: '`documentId` must be a string.' };
      const id = documentId.startsWith('sha256:') ? documentId.slice('sha256:'.length) : documentId;
      if (!SHA256_HEX.test(id))
        return { ok: false, code: 'BAD_REQUEST', message: '`documentId` must be `sha256:` followed by 64 hex digits.' };
      hash = id.toLowerCase();
    }
    if (persisted !== undefined) {
      if (!isRecord(persisted) || persisted.version !== 1) {
        return {
          ok: false,
          code: 'BAD_REQUEST',
          message: 'Unsupported persisted query version: `extensions.persistedQuery.version` must be 1.',
        };
      }
      const sha = persisted.sha256Hash;
      if (typeof sha !== 'string' || !SHA256_HEX.test(sha)) {
        return { ok: false, code: 'BAD_REQUEST', message: '`extensions.persistedQuery.sha256Hash` must be 64 hex digits.' };
      }
      if (hash !== undefined && hash !== sha.toLowerCase()) {
        return {
          ok: false,
          code: 'BAD_REQUEST',
          message: '`documentId` and `extensions.persistedQuery.sha256Hash` name different documents.',
        };
      }
      hash = sha.toLowerCase();
    }
    if (query !== undefined && hash !== undefined && sha256Hex(query) !== hash) {
      return { ok: false, code: 'PERSISTED_QUERY_HASH_MISMATCH' };
    }
    const clean = cleanParams(rest, extensions);

    // Trusted documents: a listed id serves the manifest's body, whatever the mode.
    const manifest = this.trusted.manifest;
    // Only a manifest reads the id: without one, a full query is not hashed on every request.
    const id = hash ?? (query !== undefined && manifest !== undefined ? sha256Hex(query) : undefined);
    const listed = id !== undefined ? manifest?.documents.get(id) : undefined;
    if (listed) {
      if (this.mode === 'allow-list' && this.trusted.requireId && query !== undefined)
        return { ok: false, code: 'PERSISTED_QUERY_ID_REQUIRED' };
      this.options.metrics?.persistedQueries.inc({ kind: 'trusted', result: 'hit' });
      return { ok: true, params: { ...clean, query: listed.body }, trustedId: listed.id };
    }
    if (this.mode === 'allow-list') {
      if (!this.exempt(principal)) {
        this.options.metrics?.persistedQueries.inc({ kind: 'trusted', result: 'refused' });
        return { ok: false, code: 'PERSISTED_QUERY_NOT_IN_LIST' };
      }
      this.options.metrics?.persistedQueries.inc({ kind: 'trusted', result: 'bypass' });
    } else if (this.mode === 'log-unknown' && id !== undefined) {
      this.options.metrics?.persistedQueries.inc({ kind: 'trusted', result: 'unknown' });
      if (!this.loggedUnknown.has(id)) {
        this.loggedUnknown.set(id, true);
        const operationName = typeof params.operationName === 'string' ? params.operationName.slice(0, 100) : undefined;
        this.options.logger.warn(
          { documentId: id, operationName, principal: principal?.clientKey },
          'document not in the trusted documents list (logged once per document)',
        );
      }
    }

    // A documentId names a trusted document only; APQ hashes are sent as extensions.persistedQuery.
    if (documentId !== undefined && documentId !== null && persisted === undefined && query === undefined) {
      return { ok: false, code: 'PERSISTED_QUERY_NOT_FOUND', message: 'No trusted document has this `documentId`.' };
    }
    if (persisted === undefined) return { ok: true, params: query !== undefined ? { ...clean, query } : clean };

    // APQ. Never in allow-list mode: there, an exempt caller's hash-only request cannot be served
    // from APQ either, since nothing is registered.
    const apq = this.mode === 'allow-list' ? undefined : this.options.apq;
    if (!apq) {
      if (query !== undefined) return { ok: true, params: { ...clean, query } };
      return this.mode === 'allow-list'
        ? { ok: false, code: 'PERSISTED_QUERY_NOT_IN_LIST' }
        : { ok: false, code: 'PERSISTED_QUERY_NOT_SUPPORTED' };
    }
    const apqHash = hash as string;
    if (query !== undefined) {
      return { ok: true, params: { ...clean, query }, register: { hash: apqHash, query } };
    }
    const found = await apq.get(apqHash);
    if (found.query === undefined) {
      this.options.metrics?.persistedQueries.inc({ kind: 'apq', result: 'miss' });
      return { ok: false, code: 'PERSISTED_QUERY_NOT_FOUND' };
    }
    this.options.metrics?.persistedQueries.inc({ kind: 'apq', result: 'hit' });
    return { ok: true, params: { ...clean, query: found.query } };
  }

  /** Stores an APQ registration (after Apollo accepted the document, so no junk is shared). */
  async register(registration: { hash: string; query: string }): Promise<void> {
    if (!this.options.apq || this.mode === 'allow-list') return;
    this.options.metrics?.persistedQueries.inc({ kind: 'apq', result: 'registered' });
    await this.options.apq.set(registration.hash, registration.query);
  }

  /** Where APQ registrations are kept (`memory`, or `redis` with memory in front); undefined when APQ is off. */
  get apqStore(): 'memory' | 'redis' | undefined {
    return this.options.apq?.kind;
  }

  private exempt(principal: Principal | undefined): boolean {
    const bypass = this.trusted.bypass;
    return bypass !== undefined && hasTierOrScope(principal, bypass);
  }
}

interface TrustedSettings {
  manifest: TrustedManifest | undefined;
  mode: TrustedMode;
  requireId: boolean;
  bypass: { tiers: readonly string[]; scopes: readonly string[] } | undefined;
}

function trustedSettings(options: Pick<DocumentResolverOptions, 'manifest' | 'mode' | 'requireId' | 'bypass'>): TrustedSettings {
  return { manifest: options.manifest, mode: options.mode ?? 'off', requireId: options.requireId ?? false, bypass: options.bypass };
}

/** The parameters without `documentId` and `extensions.persistedQuery` (Apollo's own APQ is off). */
function cleanParams(rest: OperationParams, extensions: Record<string, unknown> | undefined): OperationParams {
  if (!extensions || !('persistedQuery' in extensions)) return rest;
  const { persistedQuery: _persisted, ...others } = extensions;
  const clean = { ...rest };
  if (Object.keys(others).length > 0) clean.extensions = others;
  else delete clean.extensions;
  return clean;
}

declare module '../context.js' {
  interface RequestState {
    /** Id of the trusted document (manifest entry) that served this operation. */
    trustedDocumentId?: string | undefined;
  }
}
