// Preloaded (`node --import`) into a gateway by bench/profile.ts: the first SIGUSR2 starts V8's
// CPU profiler, the second stops it and writes the profile to $BENCH_CPU_PROFILE, so that the
// profile covers the measured load only (not start-up or warm-up).
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';

const session = new Session();
session.connect();
let running = false;
process.on('SIGUSR2', async () => {
  if (!running) {
    running = true;
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 500 });
    await session.post('Profiler.start');
    return;
  }
  const { profile } = await session.post('Profiler.stop');
  writeFileSync(process.env.BENCH_CPU_PROFILE, JSON.stringify(profile));
  running = false;
  process.send?.('profile-written');
});
