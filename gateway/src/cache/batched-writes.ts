/** How many held writes start a batch before its window ends. */
const MAX_HELD = 256;

/**
 * Cache writes nobody waits for (the fallback cache's copies), held for a short window and then
 * issued together: with ioredis' auto-pipelining, commands issued in one go leave in one pipeline,
 * one socket write and one reply read, where one at a time each costs the gateway a round trip of
 * its own. A copy lands up to `windowMs` later, which only matters to an outage that starts
 * within that window.
 */
export class BatchedWrites {
  private held: (() => Promise<unknown>)[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly windowMs: number) {}

  /** Runs `write` at the end of the current window, with the others held; settles as it does. */
  run<T>(write: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.held.push(() => write().then(resolve, reject));
      if (this.held.length >= MAX_HELD) void this.flush();
      else this.timer ??= setTimeout(() => void this.flush(), this.windowMs).unref();
    });
  }

  /**
   * Issues every held write now; resolves when they have all settled (at shutdown, before the
   * connection closes: a QUIT is never auto-pipelined and would overtake them).
   */
  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.held;
    this.held = [];
    await Promise.allSettled(batch.map((write) => write()));
  }
}
