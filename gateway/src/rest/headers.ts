import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyRequest } from 'fastify';
import { principalHeaderNames, principalHeaders, type Principal, type PrincipalHeaderNames } from '../auth/principal.js';
import { requestState } from '../context.js';
import { withoutUpstreamCors } from './cors.js';
import {
  HOP_BY_HOP,
  connectionListed,
  headerInputOf,
  type CompiledHeaderRules,
  type HeaderInput,
  type HeaderOutput,
} from '../headers/rules.js';

export interface ForwardHeaderOptions {
  requestIdHeader: string;
  apiKeyHeader: string;
  propagation: PrincipalHeaderNames;
  forwardAuthorization: boolean;
  /** The route's header rules (`rest.routes[].headerRules`), compiled; absent: none. */
  rules?: { request: CompiledHeaderRules; response: CompiledHeaderRules } | undefined;
}

type Headers = Record<string, string | string[] | undefined>;

/** Hop-by-hop headers and every header the `Connection` header names. */
function dropHopByHop(headers: Headers, connection: string | string[] | undefined): void {
  for (const name of HOP_BY_HOP) delete headers[name];
  for (const name of connectionListed(connection)) delete headers[name];
}

/**
 * The headers sent upstream: the client's, minus hop-by-hop ones, minus any principal headers the
 * client sent (an upstream must only ever see ones the gateway set), minus the API key and (unless
 * the route says otherwise) `Authorization`; then the route's request rules run over that set
 * (propagating from the client's headers, inserting, removing; see headers/rules.ts); then the
 * request id, the principal headers and `X-Forwarded-For/Proto/Host`, which no rule can touch.
 * `Forwarded` from the client is dropped: the `X-Forwarded-*` set here is the one account of the hop.
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
  if (options.rules && !options.rules.request.empty) applyRules(headers, options.rules.request, headerInputOf(incoming), principal);
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

/** The upstream's response headers as sent to the client: without hop-by-hop ones, then the route's response rules. */
export function clientResponseHeaders(
  upstream: IncomingHttpHeaders | Record<string, string | string[] | undefined>,
  request?: FastifyRequest,
): Headers {
  const headers: Headers = withoutUpstreamCors(request, { ...upstream });
  dropHopByHop(headers, upstream.connection);
  const rules = request && responseRules.get(request);
  if (rules && !rules.empty) applyRules(headers, rules, headerInputOf(upstream), requestState(request).principal);
  return headers;
}

const responseRules = new WeakMap<FastifyRequest, CompiledHeaderRules>();

/** Makes the route's response rules apply to whatever answer this request gets (upstream answer or kept copy). */
export function useResponseRules(request: FastifyRequest, options: ForwardHeaderOptions): void {
  if (options.rules && !options.rules.response.empty) responseRules.set(request, options.rules.response);
}

/** Runs `rules` over `headers` in place (a header with several values stays several lines). */
function applyRules(headers: Headers, rules: CompiledHeaderRules, input: HeaderInput, principal: Principal | undefined): void {
  const current: HeaderOutput = new Map();
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) current.set(name.toLowerCase(), typeof value === 'string' ? [value] : [...value]);
  }
  const output = rules.apply(input, principal, current);
  for (const name of Object.keys(headers)) delete headers[name];
  for (const [name, values] of output) headers[name] = values.length === 1 ? values[0] : values;
}
