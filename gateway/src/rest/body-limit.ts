import { finished, Transform } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';

/** A chunked request body ran past the route's `maxBodyBytes`: the client's fault, not the upstream's. */
export class BodyTooLargeError extends Error {}

/**
 * Request bodies of the REST passthrough: never parsed, the raw request stream is the body
 * reply-from forwards, through a byte counter when the route has a limit. A declared
 * `Content-Length` over the limit is refused before (see route-checks.ts); this catches chunked bodies.
 */
export class BodyLimits {
  /** Per request: the route's body limit (set by its first hook, read by the body parser). */
  private readonly limits = new WeakMap<FastifyRequest, number>();
  /** Requests whose body was cut for running past the limit. */
  private readonly cut = new WeakSet<FastifyRequest>();

  set(request: FastifyRequest, limit: number): void {
    this.limits.set(request, limit);
  }

  /** The body was cut: the upstream call failed because of the client, not the upstream. */
  wasCut(request: FastifyRequest): boolean {
    return this.cut.has(request);
  }

  /** Replaces every content-type parser of `app` (an encapsulated plugin) by the pass-through one. */
  install(app: FastifyInstance): void {
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', (request, payload, done) => {
      const limit = this.limits.get(request);
      if (limit === undefined) return done(null, payload);
      let seen = 0;
      const cut = this.cut;
      const counted = new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          seen += chunk.length;
          if (seen > limit) {
            cut.add(request);
            return callback(new BodyTooLargeError(`request body over ${limit} bytes`));
          }
          callback(null, chunk);
        },
      });
      // Not `pipeline`: stopped by the counter, it would destroy the request and its socket, and the
      // client would get a reset instead of its 413. The rest of the body flows on, to no one
      // (lingering close bounds it); a request that breaks off still ends the counter.
      payload.pipe(counted);
      finished(payload, (error) => {
        if (error) counted.destroy(error);
      });
      counted.once('error', () => {
        payload.unpipe(counted);
        payload.resume();
      });
      done(null, counted);
    });
  }
}
