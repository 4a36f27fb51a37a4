import { AsyncLocalStorage } from 'node:async_hooks';
import { Agent, Dispatcher } from 'undici';
import { z } from 'zod';
import { durationMs } from '../config-kit.js';
import { causeChain, UpstreamCallError } from '../upstream/call-error.js';

/**
 * A route's three upstream deadlines: the TCP (and TLS) connect, the first byte of the answer (its
 * status line and headers; then also each gap between body chunks), and the whole response, body
 * included, from the first attempt on (retries spend the same deadline).
 */
const fields = {
  connectMs: durationMs.describe('Longest wait for the connection to the upstream (TCP and TLS handshakes).'),
  firstByteMs: durationMs.describe(
    "Longest wait, once the request is sent, for the upstream's status line and headers; then also the longest gap between two body chunks.",
  ),
  responseMs: durationMs.describe(
    'Longest time for the whole response, body included, from the first attempt (retries included). An answer still streaming then is cut.',
  ),
};

export const RouteTimeoutsSchema = z
  .object({
    connectMs: fields.connectMs.optional(),
    firstByteMs: fields.firstByteMs.optional(),
    responseMs: fields.responseMs.optional(),
  })
  .strict()
  .describe("This route's upstream deadlines; unset fields take `rest.timeouts`.");

export const DefaultTimeoutsSchema = z
  .object({
    connectMs: fields.connectMs.default(5_000),
    firstByteMs: fields.firstByteMs.default(30_000),
    responseMs: fields.responseMs.default(300_000),
  })
  .strict()
  .prefault({})
  .describe("Upstream deadlines of every route, unless the route's `timeouts` sets its own.");

export type RouteTimeouts = z.output<typeof DefaultTimeoutsSchema>;

/** The route's deadlines: its own, else the gateway's. */
export function routeTimeouts(defaults: RouteTimeouts, own: z.output<typeof RouteTimeoutsSchema> | undefined): RouteTimeouts {
  return {
    connectMs: own?.connectMs ?? defaults.connectMs,
    firstByteMs: own?.firstByteMs ?? defaults.firstByteMs,
    responseMs: own?.responseMs ?? defaults.responseMs,
  };
}

/** Which deadline a request ran past (the `phase` label of `gateway_rest_upstream_timeouts_total`). */
export type TimeoutPhase = 'connect' | 'first_byte' | 'body' | 'response';

/**
 * An upstream call that ran past one of its route's deadlines: a timeout for the breaker and the error
 * answer. Past the connect deadline the request was never sent, so it may be retried.
 */
export class RouteTimeoutError extends UpstreamCallError {
  constructor(
    readonly phase: TimeoutPhase,
    message: string,
    options?: { cause?: unknown },
  ) {
    super('timeout', message, undefined, { ...options, notSent: phase === 'connect' });
  }
}

/** The phase of an undici or reply-from failure, or of a deadline the handler set; undefined: not a timeout. */
export function timeoutPhaseOf(error: unknown): TimeoutPhase | undefined {
  for (const current of causeChain(error)) {
    if (current instanceof RouteTimeoutError) return current.phase;
    const code = (current as { code?: string }).code;
    if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'FST_REPLY_FROM_CONNECT_TIMEOUT') return 'connect';
    if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'FST_REPLY_FROM_GATEWAY_TIMEOUT') return 'first_byte';
    if (code === 'UND_ERR_BODY_TIMEOUT') return 'body';
  }
  return undefined;
}

/** The whole-response deadline of one request: its signal aborts the attempt in flight, or the body still streaming. */
export class ResponseDeadline {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;

  constructor(readonly ms: number) {
    this.timer = setTimeout(() => this.controller.abort(new RouteTimeoutError('response', `no complete response within ${ms} ms`)), ms);
    this.timer.unref();
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Stops the timer (the answer is complete, or the request failed otherwise). */
  clear(): void {
    clearTimeout(this.timer);
  }
}

/** What one attempt asks of the connection pool: its route's deadlines and the request's whole-response signal. */
export interface AttemptTimeouts {
  connectMs: number;
  firstByteMs: number;
  signal: AbortSignal;
}

const attemptTimeouts = new AsyncLocalStorage<AttemptTimeouts>();

/** Runs `send` (one reply-from call) so that its upstream request takes `timeouts`. */
export function withAttemptTimeouts<T>(timeouts: AttemptTimeouts, send: () => T): T {
  return attemptTimeouts.run(timeouts, send);
}

type RequestCallback = (error: Error | null, data: Dispatcher.ResponseData) => void;

/**
 * The REST passthrough's connection pool. `@fastify/reply-from` takes one dispatcher and one timeout
 * for both headers and body; this one gives each request its route's deadlines instead: connect
 * (an Agent per distinct connect timeout, so routes with the same one share connections), first byte
 * and body gaps (undici's headersTimeout / bodyTimeout), and the request's whole-response signal.
 */
export class RouteDispatcher extends Dispatcher {
  private readonly agents = new Map<number, Agent>();

  constructor(private readonly options: Agent.Options) {
    super();
  }

  private agentFor(connectMs: number | undefined): Agent {
    const key = connectMs ?? 0;
    let agent = this.agents.get(key);
    if (!agent) {
      agent = new Agent(connectMs === undefined ? this.options : { ...this.options, connect: { timeout: connectMs } });
      this.agents.set(key, agent);
    }
    return agent;
  }

  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    return this.agentFor(attemptTimeouts.getStore()?.connectMs).dispatch(options, handler);
  }

  // reply-from calls `request(options, callback)`: the signal must be set there, before undici wraps the callback.
  override request(options: Dispatcher.RequestOptions, callback?: RequestCallback): never {
    const timeouts = attemptTimeouts.getStore();
    const agent = this.agentFor(timeouts?.connectMs);
    const own = timeouts
      ? { ...options, headersTimeout: timeouts.firstByteMs, bodyTimeout: timeouts.firstByteMs, signal: timeouts.signal }
      : options;
    return (agent.request as (options: Dispatcher.RequestOptions, callback?: RequestCallback) => never)(own, callback);
  }

  override async close(): Promise<void> {
    await Promise.all([...this.agents.values()].map((agent) => agent.close()));
  }

  override async destroy(): Promise<void> {
    await Promise.all([...this.agents.values()].map((agent) => agent.destroy()));
  }
}
