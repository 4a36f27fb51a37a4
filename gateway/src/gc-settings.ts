import { setFlagsFromString } from 'node:v8';

export interface GcSettings {
  /** `server.heapGrowingPercent`: how far the heap may grow past its live size before the next full collection (0: V8's own choice). */
  heapGrowingPercent: number;
  /** `server.parallelScavenge`: whether young-generation collections run on several threads. */
  parallelScavenge: boolean;
}

/**
 * Applies the garbage collector's settings from the config to V8 at start-up. V8 reads both each
 * time it collects (the heap growth when it sizes the heap after a full collection, the scavenger's
 * thread count at each scavenge), so setting them here works as the command-line flags do, for
 * every way the gateway is started (npm script, container, a platform's own command).
 *
 * Why (docs/performance.md: "Memory", and "Changes kept", seventh round):
 * - Heap growth: under load most of a request's objects outlive a scavenge and die in the old
 *   generation; left to itself V8 lets the old generation grow to several times the live heap
 *   before collecting it, and RSS follows.
 * - One scavenger thread: a request's objects are still alive at most scavenges, so each scavenge
 *   copies many of them; spread over helper threads that copying costs more CPU in all (the
 *   threads' coordination), CPU the gateway's own requests and, on a small machine or under a CPU
 *   limit, its neighbours would have used.
 */
export function applyGcSettings(settings: GcSettings): void {
  setFlagsFromString(`--heap-growing-percent=${settings.heapGrowingPercent}`);
  setFlagsFromString(settings.parallelScavenge ? '--parallel-scavenge' : '--no-parallel-scavenge');
}
