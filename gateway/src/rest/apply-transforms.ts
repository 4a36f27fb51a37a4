import type { IncomingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import type { FastifyRequest } from 'fastify';
import type { RequestState } from '../context.js';
import type { RestRequestInfo } from './state.js';
import type { UpstreamAnswer } from './proxy.js';
import { splitTarget } from './path.js';
import { transformHeaders, transformJson, transformQuery, type RouteTransforms, type TemplateScope } from './transforms.js';

/** Response headers the gateway owns: a transform never changes them. */
const OWN_RESPONSE_HEADERS = [
  'ratelimit',
  'ratelimit-policy',
  'x-ratelimit-limit',
  'x-ratelimit-remaining',
  'x-ratelimit-reset',
  'retry-after',
];

/** A route's transforms as the handler and the proxy apply them to one request. */
export interface RequestTransforms {
  /** The upstream target with the query transformed. */
  target(target: string): string;
  /** The client's headers with the request header steps applied (before the gateway sets its own). */
  requestHeaders(headers: IncomingHttpHeaders): IncomingHttpHeaders;
  /** The upstream's answer with the response header and JSON steps applied. */
  answer(answer: UpstreamAnswer, info: RestRequestInfo): Promise<UpstreamAnswer>;
}

export function requestTransforms(
  transforms: RouteTransforms | undefined,
  request: FastifyRequest,
  state: RequestState,
  params: Readonly<Record<string, string>>,
  requestIdHeader: string,
): RequestTransforms | undefined {
  if (!transforms) return undefined;
  const scope: TemplateScope = { params, principal: state.principal };
  return {
    target(target) {
      if (!transforms.query) return target;
      const { path, query } = splitTarget(target);
      return path + transformQuery(transforms.query, query, scope);
    },
    requestHeaders: (headers) => {
      const changed = transformHeaders(transforms.requestHeaders, headers, scope) as IncomingHttpHeaders;
      // A JSON transform reads the answer: ask for it uncompressed (no Accept-Encoding at all would
      // allow any coding), or a compressed one would pass untouched. A copy: `headers` may be the request's.
      return transforms.json ? { ...changed, 'accept-encoding': 'identity' } : changed;
    },
    async answer(answer, info) {
      let headers = answer.headers;
      if (transforms.responseHeaders) {
        const changed = transformHeaders(transforms.responseHeaders, headers, scope);
        for (const name of [...OWN_RESPONSE_HEADERS, requestIdHeader]) {
          if (headers[name] === undefined) delete changed[name];
          else changed[name] = headers[name];
        }
        headers = changed as IncomingHttpHeaders;
      }
      if (!transforms.json || request.method === 'HEAD') return { ...answer, headers };
      // The upstream's own headers say what the body is (a transform may have renamed them).
      const outcome = await transformJson(transforms.json, answer.headers, answer.stream);
      if ('skipped' in outcome) {
        info.transform = `json untouched: ${outcome.skipped}`;
        return { ...answer, headers, stream: outcome.stream };
      }
      info.transform = 'json transformed';
      const { etag: _etag, 'transfer-encoding': _te, ...rest } = headers;
      void _etag;
      void _te;
      return { ...answer, headers: { ...rest, 'content-length': String(outcome.body.length) }, stream: Readable.from([outcome.body]) };
    },
  };
}
