import type { GraphQLFormattedError } from 'graphql';
import type { Principal } from '../auth/principal.js';
import { GatewayError } from '../errors.js';

export type CredentialsLost = 'token_expired' | 'credentials_revoked';

/** What a client whose credentials stopped working gets as its subscription's last result. */
export const CREDENTIALS_LOST_ERRORS: Record<CredentialsLost, GraphQLFormattedError> = {
  token_expired: {
    message: 'The token this subscription was authenticated with has expired; subscribe again with a new one.',
    extensions: { code: 'UNAUTHENTICATED' },
  },
  credentials_revoked: {
    message: 'The credentials this subscription was authenticated with are no longer accepted (revoked or unknown).',
    extensions: { code: 'UNAUTHENTICATED' },
  },
};

export interface CredentialWatchOptions {
  principal: Principal;
  /** Authenticates the same credentials again; throws a GatewayError when they are not accepted now. */
  recheck(): Promise<unknown>;
  /** How often `recheck` runs. */
  recheckMs: number;
  /** Called once, when the credentials stopped working. */
  onLost(reason: CredentialsLost): void;
}

/** Longest delay a Node timer takes; a token that lives longer is caught by the periodic re-check. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Watches the credentials a long-lived stream was admitted with: a timer at the token's `exp`
 * (to the millisecond), and for an API key a re-authentication every `recheckMs` (revoked, rotated
 * away, expired or deleted meanwhile). When the credential store cannot be
 * read (`AUTH_UNAVAILABLE`) the stream goes on and the next check decides: an outage of the store
 * does not cut every subscriber. Returns the function that stops watching.
 */
export function watchCredentials(options: CredentialWatchOptions): () => void {
  const { principal } = options;
  if (principal.kind === 'anonymous') return () => undefined;
  const exp = typeof principal.claims?.exp === 'number' ? principal.claims.exp * 1000 : undefined;
  let stopped = false;
  const timers: NodeJS.Timeout[] = [];
  const stop = () => {
    stopped = true;
    for (const timer of timers) clearTimeout(timer);
  };
  const lose = (reason: CredentialsLost) => {
    if (stopped) return;
    stop();
    options.onLost(reason);
  };
  if (exp !== undefined && exp - Date.now() <= MAX_TIMER_MS) {
    timers.push(setTimeout(() => lose('token_expired'), Math.max(0, exp - Date.now())).unref());
  }
  const check = () => {
    void options.recheck().then(
      () => undefined,
      (error: unknown) => {
        if (!(error instanceof GatewayError) || error.code !== 'UNAUTHENTICATED') return;
        lose(exp !== undefined && Date.now() >= exp ? 'token_expired' : 'credentials_revoked');
      },
    );
  };
  // A token is not verified again (its signature does not change; its exp is the timer above); a key's record can change.
  if (principal.kind === 'api_key') timers.push(setInterval(check, options.recheckMs).unref());
  return stop;
}
