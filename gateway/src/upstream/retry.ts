import { setTimeout as sleep } from 'node:timers/promises';

export interface RetryOptions {
  /** Retries after the first attempt (0: one attempt only). */
  maxRetries: number;
  /** Back-off ceiling before retry n (0-based) is `baseDelayMs * 2^n`, capped at `maxDelayMs`; the delay is uniform in [0, ceiling] (full jitter). */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Epoch ms after which no retry starts (its back-off must end before it). */
  deadline: number;
  /** Whether a rejection may be retried. */
  isRetryable: (error: unknown) => boolean;
  /** Called before each retry's back-off. */
  onRetry?: (retry: number, error: unknown, delayMs: number) => void;
  /** Source of randomness in [0, 1). @default Math.random */
  random?: () => number;
}

/** Runs `attempt(0)`, and retries it per `options`; rejects with the last attempt's error. */
export async function withRetries<T>(attempt: (n: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const random = options.random ?? Math.random;
  for (let n = 0; ; n++) {
    try {
      return await attempt(n);
    } catch (error) {
      if (n >= options.maxRetries || !options.isRetryable(error)) throw error;
      const ceiling = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** n);
      const delay = Math.round(random() * ceiling);
      if (Date.now() + delay >= options.deadline) throw error;
      options.onRetry?.(n + 1, error, delay);
      if (delay > 0) await sleep(delay);
    }
  }
}
