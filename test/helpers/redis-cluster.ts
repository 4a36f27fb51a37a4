import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Cluster, Redis } from 'ioredis';
import { freePort } from './ports.js';
import { scanKeys } from './redis.js';

/**
 * A private Redis Cluster of three masters (no replicas) on free loopback ports, in a temporary
 * directory of its own, started from the installed `redis-server`. Slots are split in three ranges
 * and the nodes introduced by hand (CLUSTER ADDSLOTSRANGE / MEET with explicit bus ports), so no
 * port + 10000 convention is assumed. Throws with the reason when it cannot start: a test on a
 * machine without Redis fails and says why, instead of passing silently.
 */
export interface TestRedisCluster {
  /** `redis://127.0.0.1:<port>` of each master. */
  readonly nodes: string[];
  /** A cluster client whose keys all start with `prefix`. */
  connect(prefix: string): Promise<Cluster>;
  /** Every key under `prefix`, scanned on every master. */
  keys(prefix: string): Promise<string[]>;
  /** Deletes every key under `prefix` (only those). */
  deleteKeys(prefix: string): Promise<void>;
  /** Kills master `index` (SIGKILL): its slots have no replica, so the cluster goes down. */
  killNode(index: number): Promise<void>;
  /** Kills the processes (by their own PIDs) and removes the directory. */
  stop(): Promise<void>;
}

const SLOTS = 16_384;
const MASTERS = 3;

export async function startRedisCluster(): Promise<TestRedisCluster> {
  const version = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (version.error || version.status !== 0) {
    throw new Error(`cannot start a Redis Cluster: redis-server is not runnable (${version.error?.message ?? version.stderr})`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'gw-redis-cluster-'));
  const children: ChildProcess[] = [];
  const admins: Redis[] = [];
  const kill = async (child: ChildProcess) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  };
  const stop = async () => {
    for (const admin of admins) admin.disconnect();
    await Promise.all(children.map(kill));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const ports: { port: number; bus: number }[] = [];
    const taken = new Set<number>();
    while (ports.length < MASTERS) {
      const port = await freePort();
      const bus = await freePort();
      if (port === bus || taken.has(port) || taken.has(bus)) continue;
      taken.add(port).add(bus);
      ports.push({ port, bus });
    }
    for (const { port, bus } of ports) {
      const stderr: Buffer[] = [];
      const child = spawn(
        'redis-server',
        [
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--cluster-enabled',
          'yes',
          '--cluster-port',
          String(bus),
          '--cluster-config-file',
          join(dir, `nodes-${port}.conf`),
          '--cluster-node-timeout',
          '2000',
          '--dir',
          dir,
          '--save',
          '',
          '--appendonly',
          'no',
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
      children.push(child);
      const admin = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      admin.on('error', () => undefined);
      admins.push(admin);
      const deadline = Date.now() + 10_000;
      for (;;) {
        try {
          await admin.connect();
          await admin.ping();
          break;
        } catch (error) {
          if (child.exitCode !== null)
            throw new Error(`redis-server --cluster-enabled on port ${port} exited: ${Buffer.concat(stderr).toString() || String(error)}`);
          if (Date.now() > deadline)
            throw new Error(`redis-server --cluster-enabled on port ${port} did not answer within 10 s: ${String(error)}`);
          admin.disconnect();
          await sleep(50);
        }
      }
    }
    // Slots in three ranges, then every node meets the first (gossip spreads the rest).
    for (let i = 0; i < MASTERS; i++) {
      const from = Math.floor((SLOTS * i) / MASTERS);
      const to = Math.floor((SLOTS * (i + 1)) / MASTERS) - 1;
      await (admins[i] as Redis).call('CLUSTER', 'ADDSLOTSRANGE', String(from), String(to));
    }
    const first = ports[0] as { port: number; bus: number };
    for (let i = 1; i < MASTERS; i++)
      await (admins[i] as Redis).call('CLUSTER', 'MEET', '127.0.0.1', String(first.port), String(first.bus));
    const deadline = Date.now() + 20_000;
    for (;;) {
      const infos = await Promise.all(admins.map((admin) => admin.call('CLUSTER', 'INFO') as Promise<string>));
      const ok = infos.every((info) => /cluster_state:ok/.test(info) && new RegExp(`cluster_known_nodes:${MASTERS}\\b`).test(info));
      if (ok) break;
      if (Date.now() > deadline) throw new Error(`the Redis Cluster did not reach cluster_state:ok within 20 s:\n${infos.join('\n---\n')}`);
      await sleep(100);
    }
  } catch (error) {
    await stop();
    throw error;
  }

  const nodes = admins.map((admin) => `redis://127.0.0.1:${admin.options.port}`);
  const seeds = admins.map((admin) => ({ host: '127.0.0.1', port: admin.options.port as number }));
  const keys = async (prefix: string) => (await Promise.all(admins.map((admin) => scanKeys(admin, prefix)))).flat();
  return {
    nodes,
    async connect(prefix) {
      const client = new Cluster(seeds, { keyPrefix: prefix, redisOptions: { maxRetriesPerRequest: 1 } });
      await new Promise<void>((resolve, reject) => {
        client.once('ready', resolve);
        client.once('error', reject);
      });
      return client;
    },
    keys,
    async deleteKeys(prefix) {
      // One DEL per key: keys of different slots may live on different nodes.
      const client = new Cluster(seeds);
      try {
        for (const key of await keys(prefix)) await client.del(key);
      } finally {
        client.disconnect();
      }
    },
    async killNode(index) {
      admins[index]?.disconnect();
      const child = children[index];
      if (child) await kill(child);
    },
    stop,
  };
}
