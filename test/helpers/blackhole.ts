import { connect, type Socket } from 'node:net';
import { Worker } from 'node:worker_threads';

export interface Blackhole {
  /** Origin whose TCP connect never completes, e.g. http://127.0.0.1:54321. */
  readonly origin: string;
  close(): Promise<void>;
}

/**
 * An address on loopback where a TCP connect hangs: a listener (backlog 1) whose thread is blocked,
 * so it never accepts. Once its accept queue is full the kernel drops further SYNs, and a client's
 * connect waits until its own timeout (an unroutable address is not reliable: with no route it
 * fails at once, ENETUNREACH).
 */
export async function startBlackhole(): Promise<Blackhole> {
  const worker = new Worker(
    `const net = require('node:net');
     const { parentPort } = require('node:worker_threads');
     const server = net.createServer();
     server.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
       parentPort.postMessage(server.address().port);
       setImmediate(() => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0));
     });`,
    { eval: true },
  );
  const port = await new Promise<number>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  // Fill the accept queue: connects complete until it is full; the first one left pending proves it is.
  const fillers: Socket[] = [];
  for (let filled = false; !filled && fillers.length < 16;) {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    fillers.push(socket);
    filled = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(true), 300);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve(false);
      });
    });
  }
  return {
    origin: `http://127.0.0.1:${port}`,
    async close() {
      for (const socket of fillers) socket.destroy();
      await worker.terminate();
    },
  };
}
