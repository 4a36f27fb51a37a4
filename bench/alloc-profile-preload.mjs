// Preloaded (`node --import`) into a gateway by `bench/profile.ts --allocations`: the first SIGUSR2
// starts V8's sampling heap profiler, counting every sampled allocation including the objects
// garbage collection has already freed (what the collector has to work through, not what stays
// alive), the second stops it and writes the profile to $BENCH_ALLOC_PROFILE.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';

const session = new Session();
session.connect();
let running = false;
process.on('SIGUSR2', async () => {
  if (!running) {
    running = true;
    await session.post('HeapProfiler.enable');
    await session.post('HeapProfiler.startSampling', {
      samplingInterval: 16384,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
    return;
  }
  const { profile } = await session.post('HeapProfiler.stopSampling');
  writeFileSync(process.env.BENCH_ALLOC_PROFILE, JSON.stringify(profile));
  running = false;
  process.send?.('profile-written');
});
