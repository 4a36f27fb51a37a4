import { badUserInput } from './errors.js';

/** Relay cursor connections over an in-memory list, paginating forward (`first`/`after`). */

export const MAX_PAGE_SIZE = 100;
export const DEFAULT_PAGE_SIZE = 10;

export interface PageInfo {
  hasNextPage: boolean;
  hasPreviousPage: boolean;
  startCursor: string | null;
  endCursor: string | null;
}

export interface Edge<T> {
  cursor: string;
  node: T;
}

export interface Connection<T> {
  edges: Edge<T>[];
  pageInfo: PageInfo;
  totalCount: number;
}

export interface ForwardPageArgs {
  first?: number | null;
  after?: string | null;
}

/**
 * Validates a page size argument (0..MAX_PAGE_SIZE). An explicit `null` means the default, as if
 * the argument had been left out.
 */
export function validatePageSize(value: number | null | undefined, defaultSize: number, argumentName = 'first'): number {
  const size = value ?? defaultSize;
  if (!Number.isInteger(size) || size < 0 || size > MAX_PAGE_SIZE) {
    throw badUserInput(`"${argumentName}" must be between 0 and ${MAX_PAGE_SIZE}, got ${size}.`, argumentName);
  }
  return size;
}

const CURSOR_PREFIX = 'offset:';

/** Cursors are opaque to clients: base64url of the item's position in the list. */
export function encodeCursor(offset: number): string {
  return Buffer.from(`${CURSOR_PREFIX}${offset}`, 'utf8').toString('base64url');
}

/** The offset a cursor points at; a BAD_USER_INPUT error on field `after` when malformed. */
export function decodeCursor(cursor: string, argumentName = 'after'): number {
  const decoded = Buffer.from(cursor, 'base64url').toString('utf8');
  const match = /^offset:(0|[1-9]\d{0,14})$/.exec(decoded);
  // Re-encoding rejects non-canonical spellings that base64 decoding would silently accept.
  if (match === null || encodeCursor(Number(match[1])) !== cursor) {
    throw badUserInput(`"${argumentName}" is not a valid cursor.`, argumentName);
  }
  return Number(match[1]);
}

/** One forward page of `items`. Validates `first` and `after` first. */
export function paginate<T>(items: readonly T[], args: ForwardPageArgs): Connection<T> {
  const pageSize = validatePageSize(args.first, DEFAULT_PAGE_SIZE);
  const start = args.after == null ? 0 : decodeCursor(args.after) + 1;
  const page = items.slice(start, start + pageSize);
  const edges = page.map((node, index) => ({ cursor: encodeCursor(start + index), node }));
  return {
    edges,
    pageInfo: {
      hasNextPage: start + page.length < items.length,
      hasPreviousPage: start > 0,
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges.at(-1)?.cursor ?? null,
    },
    totalCount: items.length,
  };
}
