/** A repeat of the first signal within this window is a relayed copy, not an operator's second signal. */
export const DUPLICATE_SIGNAL_WINDOW_MS = 1_000;

export interface ShutdownSignalHandlers {
  /** The first SIGTERM/SIGINT: start a graceful shutdown. */
  graceful(signal: NodeJS.Signals): void;
  /** A later signal: the operator insists; exit now. */
  force(signal: NodeJS.Signals): void;
}

/**
 * Routes SIGTERM/SIGINT to a graceful shutdown, and a second signal to a forced one.
 *
 * The same signal often arrives twice within milliseconds: Ctrl-C reaches the whole process group,
 * and `npm run` and tsx forward it to their child as well. Such a copy is ignored; only a signal
 * that comes later than {@link DUPLICATE_SIGNAL_WINDOW_MS} after the first forces the exit.
 */
export function onShutdownSignals(handlers: ShutdownSignalHandlers): void {
  let firstAt: number | undefined;
  const listener = (signal: NodeJS.Signals) => {
    if (firstAt === undefined) {
      firstAt = Date.now();
      handlers.graceful(signal);
    } else if (Date.now() - firstAt >= DUPLICATE_SIGNAL_WINDOW_MS) {
      handlers.force(signal);
    }
  };
  process.on('SIGTERM', listener);
  process.on('SIGINT', listener);
}

/** The conventional exit code of a process ended by this signal (128 + its number). */
export function signalExitCode(signal: NodeJS.Signals): number {
  return signal === 'SIGINT' ? 130 : 143;
}
