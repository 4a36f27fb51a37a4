import { ServerResponse, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyInstance } from 'fastify';

export type UpgradeHandler = (request: IncomingMessage, socket: Duplex, head: Buffer) => void;

/**
 * The one `upgrade` listener of the gateway's server, shared by every feature that takes upgrades
 * (GraphQL subscriptions over WebSocket, the REST WebSocket relay).
 *
 * Node passes an upgrade request to `upgrade` listeners as soon as one is registered, and a request
 * that no listener takes then hangs until a timeout. So features register the paths they own here,
 * and an upgrade nobody owns is answered as the plain request it also is (the GraphQL path's answer,
 * or the gateway's 404), after which its connection closes.
 */
export interface UpgradeRouter {
  /** Routes upgrades whose path `owns` accepts to `handle`; returns a function that stops it. */
  take(owns: (pathname: string) => boolean, handle: UpgradeHandler): () => void;
}

export function createUpgradeRouter(): UpgradeRouter & { install(app: FastifyInstance): void } {
  const takers = new Set<{ owns: (pathname: string) => boolean; handle: UpgradeHandler }>();
  return {
    take(owns, handle) {
      const taker = { owns, handle };
      takers.add(taker);
      return () => takers.delete(taker);
    },
    install(app) {
      app.server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
        const pathname = (request.url ?? '/').split('?')[0] ?? '/';
        for (const taker of takers) {
          if (taker.owns(pathname)) return taker.handle(request, socket, head);
        }
        answerAsPlainRequest(app, request, socket);
      });
    },
  };
}

/** Lets the Fastify router answer an upgrade request nobody takes, then ends its connection. */
export function answerAsPlainRequest(app: FastifyInstance, request: IncomingMessage, socket: Duplex): ServerResponse {
  const response = new ServerResponse(request);
  response.assignSocket(socket as never);
  response.shouldKeepAlive = false;
  // A refusal answered over HTTP ends the connection: it was never going to serve another request.
  response.on('finish', () => socket.end());
  app.routing(request, response);
  return response;
}
