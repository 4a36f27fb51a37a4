import type { Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** A test server that can be made unreachable (ECONNREFUSED) and brought back on the same port. */
export interface Killable {
  readonly port: number;
  /** Stops listening and cuts every connection. */
  kill(): Promise<void>;
  /** Listens again on the same port. */
  revive(): Promise<void>;
}

/** Starts `server` on 127.0.0.1 port 0 and keeps track of its sockets, so kill() can cut them all. */
export async function listenKillable(server: Server): Promise<Killable> {
  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  let listening = true;
  return {
    port,
    async kill() {
      if (!listening) return;
      listening = false;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      server.closeAllConnections();
      await closed;
    },
    async revive() {
      if (listening) return;
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', () => {
          server.off('error', reject);
          resolve();
        });
      });
      listening = true;
    },
  };
}
