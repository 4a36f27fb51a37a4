import { connect, type Socket } from 'node:net';

/**
 * Raw HTTP/1.1 over `node:net`, for what fetch/undici will not send (trickled headers, NUL bytes,
 * oversized or malformed header lines) and to watch what the server does to the connection itself.
 */
export interface RawConnection {
  readonly socket: Socket;
  /** Everything received so far, as latin1 text (bytes preserved). */
  readonly received: string;
  /** Resolves when the connection closes (by either side), with ms since it was opened and whether the server ended it. */
  readonly closed: Promise<{ afterMs: number; byServer: boolean }>;
  write(data: string | Buffer): void;
  /** Resolves once `received` holds `count` complete responses (or rejects after `timeoutMs`). */
  responses(count: number, timeoutMs?: number): Promise<RawResponse[]>;
  destroy(): void;
}

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export function openRaw(baseUrl: string): Promise<RawConnection> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const openedAt = Date.now();
    let received = '';
    let destroyedByUs = false;
    let serverEnded = false;
    const waiters = new Set<() => void>();
    const socket = connect(Number(port), hostname);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      for (const wake of waiters) wake();
    });
    socket.on('end', () => (serverEnded = true));
    socket.on('error', () => undefined);
    const closed = new Promise<{ afterMs: number; byServer: boolean }>((resolveClosed) =>
      socket.on('close', () => {
        for (const wake of waiters) wake();
        resolveClosed({ afterMs: Date.now() - openedAt, byServer: serverEnded || !destroyedByUs });
      }),
    );
    socket.once('connect', () =>
      resolve({
        socket,
        get received() {
          return received;
        },
        closed,
        write: (data) => void socket.write(data),
        destroy: () => {
          destroyedByUs = true;
          socket.destroy();
        },
        responses: (count, timeoutMs = 10_000) =>
          new Promise((resolveResponses, rejectResponses) => {
            const check = () => {
              const parsed = parseResponses(received);
              if (parsed.length >= count) {
                cleanup();
                resolveResponses(parsed.slice(0, count));
              } else if (socket.destroyed) {
                cleanup();
                rejectResponses(
                  new Error(`connection closed after ${parsed.length} of ${count} responses: ${JSON.stringify(received.slice(0, 300))}`),
                );
              }
            };
            const timer = setTimeout(() => {
              cleanup();
              rejectResponses(new Error(`no ${count} responses within ${timeoutMs} ms: ${JSON.stringify(received.slice(0, 300))}`));
            }, timeoutMs);
            const cleanup = () => {
              clearTimeout(timer);
              waiters.delete(check);
            };
            waiters.add(check);
            check();
          }),
      }),
    );
    socket.once('error', reject);
  });
}

/** Parses the complete HTTP/1.1 responses at the start of `text` (content-length or chunked bodies). */
export function parseResponses(text: string): RawResponse[] {
  const responses: RawResponse[] = [];
  let rest = text;
  for (let guard = 0; guard < 1_000; guard++) {
    const headEnd = rest.indexOf('\r\n\r\n');
    if (headEnd === -1) break;
    const [statusLine = '', ...headerLines] = rest.slice(0, headEnd).split('\r\n');
    const status = Number(statusLine.split(' ')[1]);
    const headers: Record<string, string> = {};
    for (const line of headerLines) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    let bodyStart = headEnd + 4;
    let body: string;
    if (headers['transfer-encoding']?.includes('chunked')) {
      body = '';
      let complete = false;
      for (let chunks = 0; chunks < 100_000; chunks++) {
        const sizeEnd = rest.indexOf('\r\n', bodyStart);
        if (sizeEnd === -1) break;
        const size = parseInt(rest.slice(bodyStart, sizeEnd), 16);
        if (rest.length < sizeEnd + 2 + size + 2) break;
        body += rest.slice(sizeEnd + 2, sizeEnd + 2 + size);
        bodyStart = sizeEnd + 2 + size + 2;
        if (size === 0) {
          complete = true;
          break;
        }
      }
      if (!complete) break;
    } else {
      const length = Number(headers['content-length'] ?? 0);
      if (rest.length < bodyStart + length) break;
      body = rest.slice(bodyStart, bodyStart + length);
      bodyStart += length;
    }
    responses.push({ status, headers, body: Buffer.from(body, 'latin1').toString('utf8') });
    rest = rest.slice(bodyStart);
  }
  return responses;
}

/** Sends one raw request (with `connection: close`) and returns its response, or throws after `timeoutMs`. */
export async function rawRequest(baseUrl: string, data: string | Buffer, timeoutMs = 10_000): Promise<RawResponse> {
  const connection = await openRaw(baseUrl);
  try {
    connection.write(data);
    const [response] = await connection.responses(1, timeoutMs);
    return response as RawResponse;
  } finally {
    connection.destroy();
  }
}

export interface UploadResult {
  /** The first complete response read, if any. */
  response: RawResponse | undefined;
  /** Everything received, as latin1 text. */
  received: string;
  /** The error the connection ended with (`EPIPE`, `ECONNRESET`, ...), if any. */
  error: string | undefined;
  /** Body bytes handed to the socket before it ended or failed. */
  written: number;
  /** ms from connect until the connection closed. */
  closedAfterMs: number;
  /** ms from connect until the first response was complete. */
  answeredAfterMs: number | undefined;
}

export interface UploadOptions {
  /**
   * Half-close the connection after the body (a server treats that as the client leaving before its
   * answer); false: only once the server has closed its side too. @default true
   */
  end?: boolean;
  timeoutMs?: number;
}

/**
 * Sends `head`, then each chunk of `body` as fast as the connection takes it, then ends the
 * connection, and resolves once it is closed. The socket stays writable after the server's FIN
 * (`allowHalfOpen`), like a client that sends its whole request before it reads: a server that
 * closes with unread bytes makes such a client fail with EPIPE or ECONNRESET.
 */
export function rawUpload(
  baseUrl: string,
  head: string | Buffer,
  body: Iterable<Buffer> | AsyncIterable<Buffer>,
  { end = true, timeoutMs = 20_000 }: UploadOptions = {},
): Promise<UploadResult> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve) => {
    const openedAt = Date.now();
    let received = '';
    let error: string | undefined;
    let written = 0;
    let answeredAfterMs: number | undefined;
    let bodyDone = false;
    let serverEnded = false;
    const socket = connect({ port: Number(port), host: hostname, allowHalfOpen: true });
    socket.setNoDelay(true);
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      if (answeredAfterMs === undefined && parseResponses(received).length > 0) answeredAfterMs = Date.now() - openedAt;
    });
    socket.on('error', (e: NodeJS.ErrnoException) => (error ??= e.code ?? e.message));
    socket.on('end', () => {
      serverEnded = true;
      if (bodyDone && !socket.writableEnded) socket.end();
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ response: parseResponses(received)[0], received, error, written, closedAfterMs: Date.now() - openedAt, answeredAfterMs });
    });
    socket.once('connect', async () => {
      socket.write(head);
      for await (const chunk of body) {
        if (socket.destroyed || socket.writableEnded) break;
        written += chunk.length;
        if (!socket.write(chunk)) await drainOrClose(socket);
      }
      bodyDone = true;
      if ((end || serverEnded) && !socket.destroyed && !socket.writableEnded) socket.end();
    });
  });
}

/** Resolves when `socket` drains or closes, whichever comes first, leaving no listener behind (a slow upload waits many times). */
function drainOrClose(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.once('drain', done);
    socket.once('close', done);
  });
}

/** `total` bytes of filler JSON in chunks of `size`, as is or framed as chunked transfer coding (with the last chunk). */
export function* filler(total: number, options: { size?: number; chunked?: boolean } = {}): Generator<Buffer> {
  const size = options.size ?? 65_536;
  const block = Buffer.alloc(size, 'a');
  for (let sent = 0; sent < total; sent += size) {
    const part = total - sent < size ? block.subarray(0, total - sent) : block;
    yield options.chunked ? Buffer.concat([Buffer.from(`${part.length.toString(16)}\r\n`), part, Buffer.from('\r\n')]) : part;
  }
  if (options.chunked) yield Buffer.from('0\r\n\r\n');
}
