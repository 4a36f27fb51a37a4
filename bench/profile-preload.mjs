// Preloaded (`node --import`) into a gateway by bench/profile.ts: the first SIGUSR2 starts a V8
// profiler, the second stops it and writes its profile to $BENCH_PROFILE, so that the profile
// covers the measured load only (not start-up or warm-up). $BENCH_PROFILE_KIND says which:
// `cpu` (the default; V8's CPU profiler) or `allocations` (the sampling heap profiler, counting
// the objects garbage collection has already freed too: what the collector works through, not
// what stays alive).
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';

const allocations = process.env.BENCH_PROFILE_KIND === 'allocations';
const session = new Session();
session.connect();
let running = false;
process.on('SIGUSR2', async () => {
  if (!running) {
    running = true;
    if (allocations) {
      await session.post('HeapProfiler.enable');
      await session.post('HeapProfiler.startSampling', {
        samplingInterval: 16384,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: true,
      });
    } else {
      await session.post('Profiler.enable');
      await session.post('Profiler.setSamplingInterval', { interval: 500 });
      await session.post('Profiler.start');
    }
    return;
  }
  const { profile } = await session.post(allocations ? 'HeapProfiler.stopSampling' : 'Profiler.stop');
  writeFileSync(process.env.BENCH_PROFILE, JSON.stringify(profile));
  running = false;
  process.send?.('profile-written');
});
