import { setFlagsFromString } from 'node:v8';

/**
 * Sets how far V8 grows the heap past its live size before the next full collection
 * (`server.heapGrowingPercent`; 0: V8's own choice). V8 reads the setting each time it sizes the
 * heap after a collection, so setting it at start-up works as the command-line flag does, for every
 * way the gateway is started (npm script, container, a platform's own command).
 *
 * Why: under load most of a request's objects outlive a scavenge and die in the old generation;
 * left to itself V8 lets the old generation grow to several times the live heap before collecting
 * it, and RSS follows. See docs/performance.md#memory.
 */
export function applyHeapGrowth(percent: number): void {
  setFlagsFromString(`--heap-growing-percent=${percent}`);
}
