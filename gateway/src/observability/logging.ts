import { pino, type DestinationStream, type Logger } from 'pino';

/** Paths pino censors wherever they appear in a log object, so credentials never reach the log. */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'headers.authorization',
  'headers.cookie',
  'headers["x-api-key"]',
  'authorization',
  'password',
  'token',
];

export interface LoggerOptions {
  level: string;
  /** Where log lines go; stdout when absent (tests pass a stream to read them). */
  destination?: DestinationStream | undefined;
}

export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: options.level,
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      base: { service: 'gateway' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination,
  );
}

/**
 * Writes out every line the logger still holds, then resolves; for the last step before the process
 * exits. pino writes stdout asynchronously: at `process.exit` it writes what is queued synchronously,
 * but a write already handed to the thread pool can land after that (a request's line after
 * "shutdown complete") or not at all. Ending the stream waits for that write. Logging after this
 * resolves is an error, so exit right after it. Resolves after `timeoutMs` in any case.
 */
export function endLog(logger: Logger, timeoutMs = 2_000): Promise<void> {
  const stream = (logger as unknown as Record<symbol, unknown>)[pino.symbols.streamSym] as
    { end?: () => void; once?: (event: string, listener: () => void) => void; destroyed?: boolean } | undefined;
  if (!stream || stream.destroyed || typeof stream.end !== 'function' || typeof stream.once !== 'function') return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    stream.once?.('close', done);
    stream.once?.('error', done);
    stream.end?.();
  });
}
