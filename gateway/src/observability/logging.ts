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
