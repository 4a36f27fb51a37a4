import type { Logger } from 'pino';
import type { GatewayMetrics } from '../observability/metrics.js';
import type { RedisClient } from '../redis/client.js';
import type { Breaker, BreakerChangeCause, BreakerState, PinnedState } from './breaker.js';

export interface SharedBreakersOptions {
  /** The gateway's connection (GET, SET, DEL, PUBLISH); a duplicate of it subscribes. */
  redis: RedisClient;
  /** `redis.keyPrefix`: ioredis prefixes keys, not channels, so the channel name carries it here. */
  keyPrefix: string;
  /** This process; its own messages are ignored when they come back. */
  instanceId: string;
  /** How often every tracked breaker's shared key is read (bounds the delay when a message is lost). @default 5000 */
  resyncIntervalMs: number;
  /** Messages older than this (sender's clock) are ignored. @default 5000 */
  maxMessageAgeMs: number;
  metrics: GatewayMetrics;
  logger: Logger;
}

/** What instances tell each other, on the channel and in the shared key. */
interface BreakerMessage {
  v: 1;
  breaker: string;
  state: 'open' | 'closed';
  instance: string;
  /** Sender's clock, ms since the epoch. */
  at: number;
}

export interface SharedBreakers {
  /** Feed every state change of a local breaker here; changes of its own (not forced) are shared. */
  onStateChange(breaker: Breaker, state: BreakerState, cause: BreakerChangeCause): void;
  /** A breaker was created: follow it, and take the shared state it may already have. */
  track(breaker: Breaker): void;
  /**
   * An operator pinned a breaker here (or unpinned it: undefined): every instance pins it too, now
   * by message and, for those that miss it or start later, from the key `breaker-pin:{<name>}`
   * (no TTL: a pin holds until an operator lifts it). Rejects when Redis does not take it.
   */
  pin(name: string, state: PinnedState | undefined): Promise<void>;
  close(): Promise<void>;
}

/**
 * Circuit breaker state shared across gateway instances through Redis, so that when one instance's
 * breaker for a subgraph opens, the others open theirs too instead of each paying its own
 * `volumeThreshold` failures; and when one closes it after a successful probe, the others close.
 *
 * Two channels, both best effort:
 * - pub/sub on `<keyPrefix>breakers` (classic PUBLISH, which a Redis Cluster forwards to every
 *   node): the fast path, typically milliseconds;
 * - a key `breaker:{<name>}` holding the last `open`, with a TTL of the breaker's `resetTimeoutMs`
 *   (it says nothing once the open period is over), read when a breaker is created, when the
 *   subscription or the main connection (re)connects and every `resyncIntervalMs`: a new instance, or one that missed a
 *   message, learns the state within that interval.
 *
 * No storms: only changes a breaker made itself (`own`) are published; a change forced by a message
 * is not sent on. Each instance's forced-open breaker still half-opens on its own timer and lets one
 * probe through, so N instances make N probes per reset period (instead of N × volumeThreshold
 * failures). Messages carry the sender and a timestamp: an instance ignores its own, stale ones
 * (older than `maxMessageAgeMs`) and any older than the last change it saw for that breaker.
 *
 * If Redis is down, publishing and reading fail (counted, logged once per outage) and every
 * instance keeps working on its own breakers.
 */
export function createSharedBreakers(options: SharedBreakersOptions): SharedBreakers {
  const { redis, instanceId, metrics, logger } = options;
  const channel = `${options.keyPrefix}breakers`;
  const pinChannel = `${options.keyPrefix}breaker-pins`;
  const tagOf = (name: string) => `{${name.replaceAll('{', '%7B').replaceAll('}', '%7D')}}`;
  const keyOf = (name: string) => `breaker:${tagOf(name)}`;
  const pinKeyOf = (name: string) => `breaker-pin:${tagOf(name)}`;
  const tracked = new Map<string, Breaker>();
  /** Per breaker, the time of the latest change taken or made here: older news is ignored. */
  const latest = new Map<string, number>();
  let failing = false;
  let closed = false;

  const failed = (what: string, error: unknown) => {
    metrics.breakerSync.inc({ result: what === 'publish' ? 'publish_failed' : 'read_failed' });
    if (!failing)
      logger.warn(
        { err: error instanceof Error ? error.message : String(error) },
        `shared breaker state: ${what} failed; breakers stay per instance until Redis answers`,
      );
    failing = true;
  };
  const succeeded = () => {
    if (failing) logger.info('shared breaker state: Redis answers again');
    failing = false;
  };

  /** Takes a change another instance reported. */
  const apply = (message: BreakerMessage, source: 'message' | 'key') => {
    if (message.instance === instanceId) return;
    if (source === 'message' && Date.now() - message.at > options.maxMessageAgeMs) {
      metrics.breakerSync.inc({ result: 'stale' });
      return;
    }
    // Every breaker of the registry is tracked (it calls track() as it creates one).
    const breaker = tracked.get(message.breaker);
    if (!breaker || message.at <= (latest.get(message.breaker) ?? 0) || breaker.state === message.state) {
      metrics.breakerSync.inc({ result: 'ignored' });
      return;
    }
    latest.set(message.breaker, message.at);
    metrics.breakerSync.inc({ result: 'applied' });
    logger.info(
      { breaker: message.breaker, state: message.state, from: message.instance },
      'circuit breaker state taken from another instance',
    );
    breaker.force(message.state);
  };

  /** Takes a pin an operator set on another instance (or on this one, before a restart). */
  const applyPin = (message: PinMessage | undefined, name: string) => takePin(tracked.get(name), message, metrics, logger);

  const readShared = async (breaker: Breaker) => {
    try {
      const [raw, pin] = await Promise.all([redis.get(keyOf(breaker.name)), redis.get(pinKeyOf(breaker.name))]);
      succeeded();
      const message = raw ? parseMessage(raw) : undefined;
      if (message?.state === 'open') apply(message, 'key');
      // No key: no pin (an instance that missed the unpin message lifts its own).
      applyPin(pin ? parsePin(pin) : undefined, breaker.name);
    } catch (error) {
      failed('read', error);
    }
  };
  const resync = () => Promise.all([...tracked.values()].map(readShared));

  const publish = async (message: BreakerMessage, ttlMs: number) => {
    const payload = JSON.stringify(message);
    try {
      if (message.state === 'open') await redis.set(keyOf(message.breaker), payload, 'PX', Math.max(1, ttlMs));
      else await redis.del(keyOf(message.breaker));
      await redis.publish(channel, payload);
      succeeded();
      metrics.breakerSync.inc({ result: 'published' });
    } catch (error) {
      failed('publish', error);
    }
  };

  // A connection of its own: a subscribed connection can run nothing else.
  const subscriber = redis.duplicate();
  subscriber.on('error', () => undefined); // the main connection logs Redis trouble
  subscriber.on('message', (from: string, raw: string) => {
    if (from === pinChannel) {
      const pin = parsePin(raw);
      if (pin && pin.instance !== instanceId) applyPin(pin, pin.breaker);
      return;
    }
    if (from !== channel) return;
    const message = parseMessage(raw);
    if (message) apply(message, 'message');
  });
  // On every (re)connect: subscribe (again) and read what may have been missed meanwhile.
  subscriber.on('ready', () => {
    if (closed) return;
    // The keys are read on the main connection: if it is not ready yet, its own 'ready' reads them
    // (reading now would only fail, with no offline queue, and count a store failure that is not one).
    subscriber.subscribe(channel, pinChannel).then(
      () => (redis.status === 'ready' ? resync() : undefined),
      (error: unknown) => failed('subscribe', error),
    );
  });
  subscriber.connect().catch(() => undefined); // retried in the background by ioredis
  // The keys are read on the main connection, which may become ready after the subscriber: read
  // them then too, or a breaker created in between would wait for the periodic read.
  const onMainReady = () => void resync();
  redis.on('ready', onMainReady);
  const timer = setInterval(() => void resync(), options.resyncIntervalMs);
  timer.unref();

  return {
    onStateChange(breaker, state, cause) {
      if (cause !== 'own' || state === 'half_open' || closed) return;
      const at = Date.now();
      latest.set(breaker.name, at);
      void publish({ v: 1, breaker: breaker.name, state, instance: instanceId, at }, breaker.settings.resetTimeoutMs);
    },
    async pin(name, state) {
      const message: PinMessage = { v: 1, breaker: name, pinned: state ?? 'auto', instance: instanceId, at: Date.now() };
      await publishPin(redis, pinKeyOf(name), pinChannel, message);
      metrics.breakerSync.inc({ result: 'published' });
    },
    track(breaker) {
      tracked.set(breaker.name, breaker);
      if (redis.status === 'ready') void readShared(breaker);
    },
    async close() {
      closed = true;
      clearInterval(timer);
      redis.off('ready', onMainReady);
      subscriber.disconnect();
    },
  };
}

/** An operator's pin, on the pin channel and in the pin key. */
interface PinMessage {
  v: 1;
  breaker: string;
  pinned: PinnedState | 'auto';
  instance: string;
  at: number;
}

/** Pins (or unpins: no message, or `auto`) a local breaker as another instance's operator asked. */
function takePin(breaker: Breaker | undefined, message: PinMessage | undefined, metrics: GatewayMetrics, logger: Logger): void {
  const state = message?.pinned === 'auto' ? undefined : message?.pinned;
  if (!breaker || breaker.pinned === state) return;
  metrics.breakerSync.inc({ result: 'applied' });
  logger.warn(
    { breaker: breaker.name, pinned: state ?? 'auto', from: message?.instance },
    'circuit breaker pin taken from another instance',
  );
  breaker.pin(state);
}

/** The pin key (no TTL) holds a pin until it is lifted; the message tells the instances now. */
async function publishPin(redis: RedisClient, key: string, channel: string, message: PinMessage): Promise<void> {
  if (message.pinned === 'auto') await redis.del(key);
  else await redis.set(key, JSON.stringify(message));
  await redis.publish(channel, JSON.stringify(message));
}

function parsePin(raw: string): PinMessage | undefined {
  try {
    const value = JSON.parse(raw) as Partial<PinMessage>;
    if (
      value.v === 1 &&
      typeof value.breaker === 'string' &&
      (value.pinned === 'open' || value.pinned === 'closed' || value.pinned === 'auto') &&
      typeof value.instance === 'string'
    ) {
      return value as PinMessage;
    }
  } catch {
    // garbled: ignored
  }
  return undefined;
}

function parseMessage(raw: string): BreakerMessage | undefined {
  try {
    const value = JSON.parse(raw) as Partial<BreakerMessage>;
    if (
      value.v === 1 &&
      typeof value.breaker === 'string' &&
      (value.state === 'open' || value.state === 'closed') &&
      typeof value.instance === 'string' &&
      typeof value.at === 'number' &&
      Number.isFinite(value.at)
    ) {
      return value as BreakerMessage;
    }
  } catch {
    // not ours, or garbled: ignored
  }
  return undefined;
}
