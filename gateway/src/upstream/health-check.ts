import type { Logger } from 'pino';
import { fetchOnce } from './attempt.js';
import { describeError } from './call-error.js';
import type { UpstreamFetch } from './pool.js';
import type { Replica, ReplicaPool } from './replica-pool.js';

export interface HealthCheckSettings {
  /** Probe the replicas of an upstream with two or more. @default true */
  enabled: boolean;
  /**
   * `GET` this path on each replica's origin and expect a 2xx. Unset: `POST { __typename }` to the
   * replica's GraphQL URL and expect a 200 with `data.__typename`.
   */
  path?: string | undefined;
  /** Time between two probes of one replica. @default 5000 */
  intervalMs: number;
  /** A probe with no answer by then fails. @default 1000 */
  timeoutMs: number;
  /** Passing probes in a row that bring an unhealthy replica back. @default 2 */
  healthyThreshold: number;
  /** Failing probes in a row that take a replica out. @default 2 */
  unhealthyThreshold: number;
}

export interface HealthChecker {
  /** Probes every replica once now (each at most once at a time); resolves when all have answered. */
  checkNow(): Promise<void>;
  /** Stops the timer; probes in flight finish and are ignored. */
  stop(): void;
}

/**
 * The query Apollo Gateway's own `serviceHealthCheck` sends: every GraphQL server answers it with no
 * configuration, and it goes through the server's HTTP and GraphQL layers, not only its socket.
 */
const GRAPHQL_PROBE = JSON.stringify({ query: 'query __GatewayHealthCheck__ { __typename }' });

/**
 * Active health checks of a pool's replicas: one timer per pool (unref'd: it never keeps the process
 * alive), one probe per replica per tick. After `unhealthyThreshold` failures in a row a replica is
 * out; after `healthyThreshold` passes in a row it is back (and any passive ejection ends with it).
 */
export function startHealthChecks(options: {
  pool: ReplicaPool;
  fetch: UpstreamFetch;
  settings: HealthCheckSettings;
  logger: Logger;
}): HealthChecker {
  const { pool, fetch, settings, logger } = options;
  const streaks = new Map<Replica, { passes: number; failures: number; running: boolean }>(
    pool.replicas.map((replica) => [replica, { passes: 0, failures: 0, running: false }]),
  );
  let stopped = false;

  const probe = async (replica: Replica): Promise<void> => {
    const streak = streaks.get(replica);
    if (!streak || streak.running || stopped) return;
    streak.running = true;
    let passed = false;
    let reason = '';
    try {
      passed = await probeOnce(fetch, replica.url, settings);
      if (!passed) reason = 'unexpected answer';
    } catch (error) {
      reason = describeError(error);
    } finally {
      streak.running = false;
    }
    if (stopped) return;
    if (passed) {
      streak.passes++;
      streak.failures = 0;
      if (streak.passes >= settings.healthyThreshold) pool.setPassingChecks(replica, true);
    } else {
      streak.failures++;
      streak.passes = 0;
      logger.debug({ subgraph: pool.name, replica: replica.label, reason }, 'replica health check failed');
      if (streak.failures >= settings.unhealthyThreshold) pool.setPassingChecks(replica, false);
    }
  };

  const checkNow = async () => {
    await Promise.all(pool.replicas.map(probe));
  };
  const timer = setInterval(() => void checkNow(), settings.intervalMs);
  timer.unref();
  return {
    checkNow,
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}

async function probeOnce(fetch: UpstreamFetch, url: string, settings: HealthCheckSettings): Promise<boolean> {
  if (settings.path) {
    const answer = await fetchOnce(fetch, new URL(settings.path, url).href, { method: 'GET', headers: {} }, settings.timeoutMs);
    return answer.status >= 200 && answer.status < 300;
  }
  const answer = await fetchOnce(
    fetch,
    url,
    { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: GRAPHQL_PROBE },
    settings.timeoutMs,
  );
  if (answer.status !== 200) return false;
  try {
    const body = JSON.parse(answer.body) as { data?: { __typename?: unknown } | null };
    return typeof body.data?.__typename === 'string';
  } catch {
    return false;
  }
}
