import type { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';

export interface LingeringBounds {
  /**
   * Longest time the rest of a request is read and discarded after its answer.
   * @default 30000 (`server.lingeringTimeMs`; nginx `lingering_time`)
   */
  timeMs: number;
  /**
   * Longest wait for the next bytes while draining.
   * @default 5000 (`server.lingeringTimeoutMs`; nginx `lingering_timeout`)
   */
  timeoutMs: number;
  /**
   * Most bytes read and discarded while draining.
   * @default 134217728 (`server.lingeringMaxBytes`)
   */
  maxBytes: number;
}

export interface LingeringClose {
  /**
   * The answer to `request` goes out before its body has arrived (a 413, 401, 415 ...): once it is
   * sent, the rest of the body is read and discarded within the bounds. A connection that stays open
   * (keep-alive) is then reused; one that ends is half-closed first and closed once the client is done.
   */
  afterEarlyAnswer(request: IncomingMessage, response: ServerResponse): void;
  /** An error answer was written straight to `socket` (a client error before any request): half-close it and drain it. */
  closeAfterError(socket: Socket): void;
  /** Whether `socket` is draining after its answer: nothing more may be answered on it. */
  draining(socket: Socket): boolean;
  /** Closes every draining connection now, and drains no more from then on (shutdown). */
  closeAll(): void;
}

/**
 * Lingering close, as nginx and Apache do it. A server that answers before it has read the request
 * (an oversized body, a header bomb) and then closes the socket makes the kernel answer the client's
 * next bytes with a reset; the client, still writing, gets EPIPE or ECONNRESET, and the reset may
 * throw away the answer before the client read it. Node's HTTP server closes that way: after the last
 * answer on a connection it calls `socket.destroySoon()`, which closes the socket as soon as the
 * answer is flushed, read or not.
 *
 * Here the gateway closes its sending side (FIN, `socket.end()`: the HTTP server allows half-open
 * sockets) and keeps reading and discarding what the client still sends, until the client closes
 * its side or the request body is complete, or a bound is reached: `timeMs` in all, `timeoutMs`
 * without a byte, `maxBytes` read. Then the socket is closed.
 */
export function createLingeringClose(bounds: LingeringBounds): LingeringClose {
  const sockets = new Set<Socket>();
  let closed = false;
  const tickMs = Math.max(10, Math.min(100, Math.floor(bounds.timeoutMs / 4)));

  /** Watches `socket` drain until a bound closes it, its client is done, or it closes; `stop` ends the watch early. */
  function watch(socket: Socket): { check: () => void; stop: () => void } {
    const startBytes = socket.bytesRead;
    const startedAt = Date.now();
    let lastBytes = startBytes;
    let lastAt = startedAt;
    const check = () => {
      const now = Date.now();
      const read = socket.bytesRead;
      if (read !== lastBytes) [lastBytes, lastAt] = [read, now];
      const over = read - startBytes > bounds.maxBytes || now - startedAt >= bounds.timeMs || now - lastAt >= bounds.timeoutMs;
      if (over) socket.destroy();
    };
    const timer = setInterval(check, tickMs).unref();
    const stop = () => {
      clearInterval(timer);
      socket.off('close', stop);
      socket.off('end', clientDone);
      sockets.delete(socket);
    };
    // The client closed its side: nothing more will arrive.
    const clientDone = () => closeWhenFlushed(socket);
    sockets.add(socket);
    socket.once('close', stop);
    socket.once('end', clientDone);
    return { check, stop };
  }

  return {
    afterEarlyAnswer(request, response) {
      const socket = request.socket as Socket | null;
      // No socket, or a destroyed one: the request was torn down (a body stream destroyed it), nothing to drain.
      if (closed || !socket || socket.destroyed || sockets.has(socket) || Object.hasOwn(socket, 'destroySoon')) return;
      // Node's last step on a connection that ends after this answer: half-close instead.
      socket.destroySoon = () => void socket.end();
      response.once('finish', () => {
        if (request.complete) {
          finishEarly(socket);
          return;
        }
        // Whoever was reading the body has stopped (the answer is out): discard the rest.
        request.unpipe();
        request.resume();
        const { check, stop } = watch(socket);
        request.on('data', check);
        request.once('end', () => {
          stop();
          finishEarly(socket);
        });
      });
    },
    closeAfterError(socket) {
      if (sockets.has(socket) || socket.destroyed) return;
      if (closed) return closeWhenFlushed(socket);
      socket.end();
      watch(socket);
    },
    draining: (socket) => sockets.has(socket),
    closeAll() {
      closed = true;
      for (const socket of [...sockets]) socket.destroy();
    },
  };
}

/** After an early answer: Node's own `destroySoon` again, and the connection closed now if it was ending. */
function finishEarly(socket: Socket): void {
  delete (socket as Partial<Socket>).destroySoon;
  if (socket.writableEnded) closeWhenFlushed(socket);
}

/** Closes `socket` once what was written to it is flushed (Node's `destroySoon`). */
function closeWhenFlushed(socket: Socket): void {
  Socket.prototype.destroySoon.call(socket);
}
