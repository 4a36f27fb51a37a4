/**
 * An attempt aborted by the gateway because another attempt of the same call answered first (a
 * hedge): not the upstream's failure, and not a success either. Neither passive ejection nor the
 * breaker's policy books it (opossum's own window counts it as an answer).
 */
export class AttemptCancelledError extends Error {
  override readonly name = 'AttemptCancelledError';
  constructor(options?: { cause?: unknown }) {
    super('attempt cancelled: another attempt of the call answered first', options);
  }
}
