import { SubgraphLatencies } from './latency.js';

/** `staleIfSlow` of one subgraph (see subgraph/config.ts). */
export interface StaleIfSlowSettings {
  enabled: boolean;
  softDeadlineMs: number;
  adaptive: boolean;
  percentile: number;
  factor: number;
  floorMs: number;
}

/** The adaptive deadline follows the calls of this last window, once it holds this many. */
const ADAPTIVE_WINDOW_MS = 60_000;
const ADAPTIVE_MIN_SAMPLES = 20;

/**
 * A subgraph is known to be slow when the median wait of its latest callers (at most this many, none
 * older than {@link KNOWN_SLOW_WINDOW_MS}, at least {@link KNOWN_SLOW_MIN_CALLS}; a call shared by
 * several deduplicated requests counts once for each, as the breaker counts it) was longer than the
 * soft deadline. Waiting for the deadline would then only add it to every answer that has a copy.
 */
const KNOWN_SLOW_CALLS = 10;
const KNOWN_SLOW_MIN_CALLS = 5;
const KNOWN_SLOW_WINDOW_MS = 30_000;

/**
 * The soft deadline of one subgraph's query calls: fixed (`softDeadlineMs`), or adaptive: the
 * chosen percentile of the last minute's call durations × `factor`, within [`floorMs`,
 * `softDeadlineMs`]. Capped, so a subgraph that turns slow cannot stretch its own deadline: its
 * slow calls raise the percentile, but never past the fixed bound.
 */
export class SoftDeadline {
  private readonly latencies: SubgraphLatencies | undefined;
  /** The latest calls: [when they ended, how long they took], oldest first. */
  private readonly latest: [number, number][] = [];

  constructor(
    private readonly name: string,
    private readonly settings: StaleIfSlowSettings,
  ) {
    // Recomputed at most every 250 ms: a deadline that follows the subgraph should not lag it by a second.
    this.latencies = settings.adaptive ? new SubgraphLatencies({ recomputeAfterMs: 250 }) : undefined;
  }

  /**
   * The soft deadline (ms) for a call starting now: 0 while the subgraph is known to be slow (a copy,
   * if there is one, is served at once; the live call still goes on and is timed, so the subgraph's
   * recovery is seen by the calls themselves).
   */
  ms(now = Date.now()): number {
    const deadline = this.deadline(now);
    return this.knownSlow(deadline, now) ? 0 : deadline;
  }

  private deadline(now: number): number {
    const { softDeadlineMs, percentile, factor, floorMs } = this.settings;
    const recent = this.latencies?.percentile(this.name, percentile, ADAPTIVE_WINDOW_MS, ADAPTIVE_MIN_SAMPLES, now);
    if (recent === undefined) return softDeadlineMs;
    return Math.round(Math.min(softDeadlineMs, Math.max(floorMs, recent * factor)));
  }

  private knownSlow(deadline: number, now: number): boolean {
    const durations = this.latest.filter(([endedAt]) => now - endedAt <= KNOWN_SLOW_WINDOW_MS).map(([, ms]) => ms);
    if (durations.length < KNOWN_SLOW_MIN_CALLS) return false;
    durations.sort((a, b) => a - b);
    return (durations[Math.floor(durations.length / 2)] as number) > deadline;
  }

  /** A call that reached the subgraph took `ms` (answered, or cut by its timeout), for `callers` requests. */
  record(ms: number, callers = 1, now = Date.now()): void {
    this.latencies?.record(this.name, ms);
    for (let n = 0; n < Math.min(callers, KNOWN_SLOW_CALLS); n++) this.latest.push([now, ms]);
    this.latest.splice(0, Math.max(0, this.latest.length - KNOWN_SLOW_CALLS));
  }
}

type Raced<T, C> = { live: T; copy?: undefined } | { copy: C; live?: undefined };

/**
 * Waits for `live` until `softMs`, then for whichever comes first: `live`, or the copy `copy()`
 * finds. `live` settles as it will either way (its rejection is handled here when the copy won);
 * a rejection of `live` before a copy is found rejects, for the caller's stale-if-error.
 */
export async function raceSoftDeadline<T, C>(live: Promise<T>, softMs: number, copy: () => Promise<C | undefined>): Promise<Raced<T, C>> {
  live.catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  const soft = new Promise<'soft'>((resolve) => {
    timer = setTimeout(() => resolve('soft'), softMs);
  });
  const answered: Promise<Raced<T, C>> = live.then((value) => ({ live: value }));
  try {
    const first = await Promise.race([answered, soft]);
    if (first !== 'soft') return first;
  } finally {
    clearTimeout(timer);
  }
  const copied = copy().then((found): Raced<T, C> | Promise<Raced<T, C>> => (found === undefined ? answered : { copy: found }));
  return Promise.race([answered, copied]);
}
