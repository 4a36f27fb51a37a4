// Preloaded into a gateway process (node --expose-gc --import this): on SIGUSR2, which the test sends
// once the gateway has logged that it is ready (its config applied), makes garbage that lives long
// enough to be promoted to the old generation, as requests in flight do, and reports on stdout how
// large the old generation got before V8 collected it twice.
import { PerformanceObserver, constants } from 'node:perf_hooks';
import v8 from 'node:v8';

const oldSpaceUsed = () => v8.getHeapSpaceStatistics().find((space) => space.space_name === 'old_space')?.space_used_size ?? 0;

process.once('SIGUSR2', () => {
  globalThis.gc();
  let majors = 0;
  let peak = 0;
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) if (entry.detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) majors += 1;
  }).observe({ entryTypes: ['gc'] });
  // Each array outlives several scavenges (the ring holds the last 20,000), then becomes garbage.
  const ring = new Array(20_000).fill(null);
  let made = 0;
  const step = () => {
    for (let i = 0; i < 2_000; i++) ring[made++ % ring.length] = new Array(200).fill(made);
    peak = Math.max(peak, oldSpaceUsed());
    if (majors >= 2 || made > 3_000_000) {
      process.stdout.write(`HEAP_PROBE ${JSON.stringify({ peakOldSpaceMb: Math.round(peak / 1e6), majors })}\n`);
      process.exit(0);
    }
    setImmediate(step);
  };
  step();
});
