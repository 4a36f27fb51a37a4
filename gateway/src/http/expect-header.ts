import type { Server } from 'node:http';
import type { onRequestAsyncHookHandler, preParsingAsyncHookHandler } from 'fastify';
import { GatewayError } from '../errors.js';

const CONTINUE = /(?:^|\W)100-continue(?:$|\W)/i;

export interface ExpectHeader {
  /** `onRequest`: refuses an expectation other than `100-continue` (417 `EXPECTATION_FAILED`). */
  readonly check: onRequestAsyncHookHandler;
  /** `preParsing`: sends `100 Continue` just before the body is read. */
  readonly continueBeforeBody: preParsingAsyncHookHandler;
}

/**
 * The `Expect` header, answered by the gateway instead of by Node.
 *
 * - **`100-continue`** is answered when the body is about to be read, not at once. With no
 *   `checkContinue` listener Node sends `100 Continue` as soon as the headers arrive, so a client that
 *   asks whether to send a body that will be refused (too large, unauthenticated, overloaded) is told
 *   to go ahead. Here the server passes such a request on without a word, and the `preParsing` hook,
 *   which runs after every check that needs no body (in-flight cap, auth, declared size, the rate
 *   limit of REST routes), sends `100 Continue` just before the body parser reads. A request refused
 *   earlier gets its final answer instead; Node closes that connection after it (the client may send
 *   the body anyway: lingering close drains it).
 * - **Any other expectation**: Node answers an empty 417 itself; here the request goes on to the
 *   `onRequest` hook, which refuses it with 417 `EXPECTATION_FAILED` in the gateway's error format.
 */
export function useExpectHeader(server: Server): ExpectHeader {
  const passOn = (request: unknown, response: unknown) => server.emit('request', request, response);
  server.on('checkContinue', passOn);
  server.on('checkExpectation', passOn);
  return {
    check: async (request) => {
      const expect = request.headers.expect;
      if (expect !== undefined && !CONTINUE.test(expect)) throw new GatewayError('EXPECTATION_FAILED');
    },
    continueBeforeBody: async (request, reply, payload) => {
      const expect = request.headers.expect;
      if (expect !== undefined && CONTINUE.test(expect) && !reply.raw.headersSent) reply.raw.writeContinue();
      return payload;
    },
  };
}
