// Preloaded into a gateway process (node --expose-gc --import this): on SIGUSR2, which the test sends
// once the gateway has logged that it is ready (its config applied), makes garbage that lives long
// enough to be promoted to the old generation, as requests in flight do, and reports on stdout how
// large the old generation got before V8 collected it twice. Before that, it makes short-lived
// objects that outlive a scavenge or two, with V8's trace of its scavenges on stdout.
import { PerformanceObserver, constants } from 'node:perf_hooks';
import v8 from 'node:v8';

const oldSpaceUsed = () => v8.getHeapSpaceStatistics().find((space) => space.space_name === 'old_space')?.space_used_size ?? 0;

/**
 * Objects that outlive a scavenge or two (a ring of the last 100,000), with V8's trace of each
 * collection on: its `gc=s` lines (scavenges) go to stdout, where `background.scavenge.parallel`
 * is the time helper threads spent scavenging (0 when the main thread scavenges alone).
 */
function scavengeChurn() {
  v8.setFlagsFromString('--trace-gc-nvp');
  const kept = [];
  for (let i = 0; i < 2_000_000; i++) {
    kept.push({ i, text: `x${i}`, pair: [i, i + 1] });
    if (kept.length > 100_000) kept.splice(0, 50_000);
  }
  v8.setFlagsFromString('--no-trace-gc-nvp');
}

process.once('SIGUSR2', () => {
  scavengeChurn();
  globalThis.gc();
  // Only the collections from here on count (a report of the churn's may still be on its way).
  const from = performance.now();
  let majors = 0;
  let peak = 0;
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      if (entry.startTime >= from && entry.detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) majors += 1;
    }
  }).observe({ entryTypes: ['gc'] });
  // Each array outlives several scavenges (the ring holds the last 20,000), then becomes garbage.
  const ring = new Array(20_000).fill(null);
  let made = 0;
  const step = () => {
    for (let i = 0; i < 2_000; i++) ring[made++ % ring.length] = new Array(200).fill(made);
    peak = Math.max(peak, oldSpaceUsed());
    if (majors >= 2 || made > 3_000_000) {
      process.stdout.write(`\nHEAP_PROBE ${JSON.stringify({ peakOldSpaceMb: Math.round(peak / 1e6), majors })}\n`);
      process.exit(0);
    }
    setImmediate(step);
  };
  step();
});
