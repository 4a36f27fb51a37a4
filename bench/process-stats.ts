import { readFileSync, readdirSync } from 'node:fs';

/**
 * CPU time and resident memory of a process and all its descendants, from Linux's /proc (a gateway
 * may fork workers; all of them count). Clock ticks are USER_HZ, 100 on Linux.
 */
const TICKS_PER_SECOND = 100;

function children(pid: number): number[] {
  const found: number[] = [];
  let tasks: string[] = [];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return found;
  }
  for (const task of tasks) {
    try {
      const list = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
      if (list) found.push(...list.split(/\s+/).map(Number));
    } catch {
      // the task ended while we looked
    }
  }
  return found;
}

export function processTree(pid: number): number[] {
  const all = [pid];
  for (let i = 0; i < all.length; i++) all.push(...children(all[i] as number));
  return all;
}

/** User + system CPU seconds used so far by the process tree. */
export function cpuSeconds(pid: number): number {
  let ticks = 0;
  for (const p of processTree(pid)) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of stat)
    } catch {
      // gone
    }
  }
  return ticks / TICKS_PER_SECOND;
}

/** Resident set size of the process tree now, in bytes. */
export function rssBytes(pid: number): number {
  let kb = 0;
  for (const p of processTree(pid)) {
    try {
      const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      kb += Number(match?.[1] ?? 0);
    } catch {
      // gone
    }
  }
  return kb * 1024;
}

/** Samples RSS every `intervalMs` until stopped; returns the peak seen. */
export function sampleRss(pid: number, intervalMs = 250): { stop(): number } {
  let peak = rssBytes(pid);
  const timer = setInterval(() => (peak = Math.max(peak, rssBytes(pid))), intervalMs);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, rssBytes(pid));
    },
  };
}

/**
 * The whole machine's CPU ticks so far, from the first line of /proc/stat: `busy` is every tick not
 * idle or waiting for I/O (steal included: time the hypervisor gave to others is not ours either),
 * `total` all of them, over every core.
 */
export function machineTicks(): { busy: number; total: number } {
  let line: string;
  try {
    line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
  } catch {
    return { busy: Number.NaN, total: Number.NaN }; // not Linux: reported as n/a
  }
  // user nice system idle iowait irq softirq steal; guest and guest_nice (after them) are already in user and nice.
  const fields = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = fields.reduce((sum, value) => sum + value, 0);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0); // idle, iowait
  return { busy: total - idle, total };
}
