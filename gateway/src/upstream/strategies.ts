/** How a replica is picked for a call (`subgraphs.<name>.loadBalancing.strategy`). */
export type BalancingStrategy = 'round_robin' | 'weighted_round_robin' | 'least_outstanding' | 'consistent_hash';

export const BALANCING_STRATEGIES: readonly BalancingStrategy[] = [
  'round_robin',
  'weighted_round_robin',
  'least_outstanding',
  'consistent_hash',
];

/** What a strategy reads of a replica. */
export interface Candidate {
  readonly url: string;
  readonly weight: number;
  /** Calls in flight to this replica now. */
  readonly outstanding: number;
}

/**
 * Picks one of `replicas` for a call, among those `usable` says may take it. Strategies keep their
 * own cursor state; they never see why a replica is unusable (health check, ejection, breaker, or
 * already tried by this call), so "fall back to the next usable replica" is the same rule for all.
 */
export interface Strategy<R extends Candidate> {
  pick(usable: (replica: R) => boolean, key: string | undefined): R | undefined;
}

export function createStrategy<R extends Candidate>(strategy: BalancingStrategy, replicas: readonly R[]): Strategy<R> {
  switch (strategy) {
    case 'round_robin':
      return roundRobin(replicas);
    case 'weighted_round_robin':
      return smoothWeightedRoundRobin(replicas);
    case 'least_outstanding':
      return leastOutstanding(replicas);
    case 'consistent_hash':
      return consistentHash(replicas);
  }
}

/** Each usable replica in turn; an unusable one is skipped and the next one takes its turn. */
function roundRobin<R extends Candidate>(replicas: readonly R[]): Strategy<R> {
  let next = 0;
  return {
    pick(usable) {
      for (let i = 0; i < replicas.length; i++) {
        const index = (next + i) % replicas.length;
        const replica = replicas[index] as R;
        if (!usable(replica)) continue;
        next = (index + 1) % replicas.length;
        return replica;
      }
      return undefined;
    },
  };
}

/**
 * nginx's smooth weighted round robin: weights 5,1,1 give a a b a c a a, not a a a a a b c, so a
 * heavy replica never takes a burst of consecutive calls. Unusable replicas sit the round out.
 */
function smoothWeightedRoundRobin<R extends Candidate>(replicas: readonly R[]): Strategy<R> {
  const current = replicas.map(() => 0);
  return {
    pick(usable) {
      let best = -1;
      let total = 0;
      replicas.forEach((replica, index) => {
        if (!usable(replica)) return;
        current[index] = (current[index] as number) + replica.weight;
        total += replica.weight;
        if (best === -1 || (current[index] as number) > (current[best] as number)) best = index;
      });
      if (best === -1) return undefined;
      current[best] = (current[best] as number) - total;
      return replicas[best];
    },
  };
}

/**
 * Fewest calls in flight per unit of weight; ties go round robin, so an idle pool is still spread.
 * A slow replica keeps its calls longer and so is picked less (Envoy's LEAST_REQUEST, full scan).
 */
function leastOutstanding<R extends Candidate>(replicas: readonly R[]): Strategy<R> {
  let start = 0;
  return {
    pick(usable) {
      let best: R | undefined;
      let bestLoad = Infinity;
      for (let i = 0; i < replicas.length; i++) {
        const replica = replicas[(start + i) % replicas.length] as R;
        if (!usable(replica)) continue;
        const load = (replica.outstanding + 1) / replica.weight;
        if (load < bestLoad) {
          best = replica;
          bestLoad = load;
        }
      }
      start = (start + 1) % replicas.length;
      return best;
    },
  };
}

/** Points per unit of weight on the hash ring: enough for an even spread of keys over a few replicas. */
export const RING_POINTS_PER_WEIGHT = 160;

/**
 * A hash ring (Karger et al.; Ketama's layout): each replica owns `160 × weight` points, placed by
 * hashing its URL and the point's number, and a key belongs to the first point clockwise from the key's hash. When a
 * replica is unusable its keys walk on to the next usable replica's points, and every other key
 * stays where it was; when it comes back, its keys (and only they) return to it. No key → round robin.
 */
function consistentHash<R extends Candidate>(replicas: readonly R[]): Strategy<R> {
  const ring = buildRing(replicas);
  const fallback = roundRobin(replicas);
  return {
    pick(usable, key) {
      if (key === undefined || ring.length === 0) return fallback.pick(usable, key);
      return ringLookup(ring, hash32(key), usable);
    },
  };
}

interface RingPoint<R> {
  point: number;
  replica: R;
}

export function buildRing<R extends Candidate>(replicas: readonly R[]): RingPoint<R>[] {
  const ring: RingPoint<R>[] = [];
  for (const replica of replicas) {
    for (let i = 0; i < RING_POINTS_PER_WEIGHT * replica.weight; i++) ring.push({ point: hash32(`${replica.url}#${i}`), replica });
  }
  return ring.sort((a, b) => a.point - b.point);
}

/** The first usable replica at or after `point` on the ring (wrapping around). */
export function ringLookup<R>(ring: readonly RingPoint<R>[], point: number, usable: (replica: R) => boolean): R | undefined {
  let low = 0;
  let high = ring.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if ((ring[mid] as RingPoint<R>).point < point) low = mid + 1;
    else high = mid;
  }
  const seen = new Set<R>();
  for (let i = 0; i < ring.length; i++) {
    const { replica } = ring[(low + i) % ring.length] as RingPoint<R>;
    if (seen.has(replica)) continue;
    if (usable(replica)) return replica;
    seen.add(replica);
  }
  return undefined;
}

/**
 * FNV-1a over the UTF-16 code units, then MurmurHash3's finalizer (so similar strings such as
 * `url#1`, `url#2` land far apart): not for security, only an even spread that is the same in every
 * process. A tenth of the cost of MD5 through `node:crypto`, which matters once per call.
 */
export function hash32(value: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < value.length; i++) {
    hash ^= value.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}
