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
 * The soft deadline of one subgraph's query calls: fixed (`softDeadlineMs`), or adaptive: the
 * chosen percentile of the last minute's call durations × `factor`, within [`floorMs`,
 * `softDeadlineMs`]. Capped, so a subgraph that turns slow cannot stretch its own deadline: its
 * slow calls raise the percentile, but never past the fixed bound.
 */
export class SoftDeadline {
  private readonly latencies: SubgraphLatencies | undefined;

  constructor(
    private readonly name: string,
    private readonly settings: StaleIfSlowSettings,
  ) {
    // Recomputed at most every 250 ms: a deadline that follows the subgraph should not lag it by a second.
    this.latencies = settings.adaptive ? new SubgraphLatencies({ recomputeAfterMs: 250 }) : undefined;
  }

  /** The soft deadline (ms) for a call starting now. */
  ms(now = Date.now()): number {
    const { softDeadlineMs, percentile, factor, floorMs } = this.settings;
    const recent = this.latencies?.percentile(this.name, percentile, ADAPTIVE_WINDOW_MS, ADAPTIVE_MIN_SAMPLES, now);
    if (recent === undefined) return softDeadlineMs;
    return Math.round(Math.min(softDeadlineMs, Math.max(floorMs, recent * factor)));
  }

  /** A call that reached the subgraph took `ms` (answered, or cut by its timeout). */
  record(ms: number): void {
    this.latencies?.record(this.name, ms);
  }

  /** Whether the adaptive deadline needs call durations. */
  get learns(): boolean {
    return this.latencies !== undefined;
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
