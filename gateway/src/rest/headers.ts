import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyRequest } from 'fastify';
import { principalHeaderNames, principalHeaders, type Principal, type PrincipalHeaderNames } from '../auth/principal.js';

/** Hop-by-hop headers (RFC 9110 §7.6.1) plus the non-standard ones proxies also drop; never forwarded either way. */
export const HOP_BY_HOP = [
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
];

export interface ForwardHeaderOptions {
  requestIdHeader: string;
  apiKeyHeader: string;
  propagation: PrincipalHeaderNames;
  forwardAuthorization: boolean;
}

type Headers = Record<string, string | string[] | undefined>;

/** Hop-by-hop headers and every header the `Connection` header names. */
function dropHopByHop(headers: Headers, connection: string | string[] | undefined): void {
  for (const name of HOP_BY_HOP) delete headers[name];
  const listed = Array.isArray(connection) ? connection.join(',') : connection;
  for (const name of listed?.split(',') ?? []) {
    const trimmed = name.trim().toLowerCase();
    if (trimmed) delete headers[trimmed];
  }
}

/**
 * The headers sent upstream: the client's, minus hop-by-hop ones, minus any principal headers the
 * client sent (an upstream must only ever see ones the gateway set), minus the API key and (unless
 * the route says otherwise) `Authorization`; plus the request id, the principal headers and
 * `X-Forwarded-For/Proto/Host`. `Forwarded` from the client is dropped: the `X-Forwarded-*` set
 * here is the one account of the hop.
 */
export function upstreamRequestHeaders(
  request: FastifyRequest,
  incoming: IncomingHttpHeaders,
  principal: Principal | undefined,
  options: ForwardHeaderOptions,
): Headers {
  const headers: Headers = { ...incoming };
  dropHopByHop(headers, request.headers.connection);
  for (const name of principalHeaderNames(options.propagation)) delete headers[name];
  delete headers[options.apiKeyHeader];
  if (!options.forwardAuthorization) delete headers.authorization;
  delete headers.forwarded;
  headers[options.requestIdHeader] = request.id;
  Object.assign(headers, principalHeaders(principal, options.propagation));
  // request.ips is [peer, ...X-Forwarded-For right to left] as far as the proxies are trusted
  // (`server.trustedProxies`); without trusted proxies it is absent and the peer starts the chain.
  const chain = request.ips && request.ips.length > 1 ? [...request.ips].reverse() : [request.socket.remoteAddress ?? request.ip];
  headers['x-forwarded-for'] = chain.join(', ');
  headers['x-forwarded-proto'] = request.protocol;
  headers['x-forwarded-host'] = request.host;
  return headers;
}

/** The upstream's response headers as sent to the client: without hop-by-hop ones. */
export function clientResponseHeaders(upstream: IncomingHttpHeaders | Record<string, string | string[] | undefined>): Headers {
  const headers: Headers = { ...upstream };
  dropHopByHop(headers, upstream.connection);
  return headers;
}
