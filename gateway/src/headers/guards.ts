import {
  CORS_ANSWER,
  HOP_BY_HOP_AND_FRAMING,
  RESPONSE_OWN,
  SUBGRAPH_REQUEST_OWN,
  headerGuard,
  type HeaderGuard,
  type HeaderOutput,
} from './rules.js';

/** The header names the gateway keeps under its own control, as its config names them. */
export interface GatewayHeaderNames {
  /** The headers that carry the caller's identity (`auth.propagation`). */
  identity: readonly string[];
  /** `server.requestIdHeader`. */
  requestId: string;
  /** `auth.apiKeys.header`: a credential, copied only by a rule naming it. */
  apiKey: string;
}

/** The sections that name them (structural: `auth.propagation`, `auth.apiKeys.header`, `server.requestIdHeader`). */
export interface HeaderNameSections {
  auth: { propagation: { idHeader: string; tierHeader: string; scopesHeader: string; kindHeader: string }; apiKeys: { header: string } };
  server: { requestIdHeader: string };
}

/** The names the gateway keeps to itself, from the sections that set them. */
export function gatewayHeaderNames(config: HeaderNameSections): GatewayHeaderNames {
  const { idHeader, tierHeader, scopesHeader, kindHeader } = config.auth.propagation;
  return {
    identity: [idHeader, tierHeader, scopesHeader, kindHeader].map((name) => name.toLowerCase()),
    requestId: config.server.requestIdHeader.toLowerCase(),
    apiKey: config.auth.apiKeys.header.toLowerCase(),
  };
}

const HOP = 'hop-by-hop and framing headers belong to one connection and are never propagated';
const IDENTITY = 'identity headers are set by the gateway from the verified caller only';
const REQUEST_ID = 'the request id header is set by the gateway';
const CREDENTIALS = ['authorization', 'cookie'];

/** Subgraph requests: the gateway also owns the body's type and encoding. */
export function subgraphRequestGuard(names: GatewayHeaderNames): HeaderGuard {
  return headerGuard(
    [
      [HOP_BY_HOP_AND_FRAMING, HOP],
      [SUBGRAPH_REQUEST_OWN, 'the gateway sets it on the subgraph request it builds'],
      [names.identity, IDENTITY],
      [[names.requestId], REQUEST_ID],
    ],
    [...CREDENTIALS, names.apiKey],
  );
}

/** REST requests: the client's body is streamed as sent; `X-Forwarded-*` and `Forwarded` are the gateway's account of the hop. */
export function restRequestGuard(names: GatewayHeaderNames): HeaderGuard {
  return headerGuard(
    [
      [HOP_BY_HOP_AND_FRAMING, HOP],
      [['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded'], 'the gateway sets the account of the hop itself'],
      [names.identity, IDENTITY],
      [[names.requestId], REQUEST_ID],
    ],
    [...CREDENTIALS, names.apiKey],
  );
}

/** Answers to the client: framing and body type are the gateway's; `Cache-Control` is the response cache's to compute. */
export function responseGuard(names: Pick<GatewayHeaderNames, 'requestId'>): HeaderGuard {
  return headerGuard(
    [
      [HOP_BY_HOP_AND_FRAMING, HOP],
      [RESPONSE_OWN, 'the gateway sets it on its own answer (Cache-Control: the response cache computes it)'],
      [CORS_ANSWER, "CORS answers come from the gateway's CORS policy (server.cors, a route's cors) only"],
      [[names.requestId], REQUEST_ID],
    ],
    [],
  );
}

/**
 * Headers gathered from several upstream answers for one client response: `Set-Cookie` lines are
 * appended one by one (never merged into one line); another header sent by several answers keeps
 * each distinct value as its own line.
 */
export class ResponseHeaderCollector {
  private readonly headers: HeaderOutput = new Map();

  get size(): number {
    return this.headers.size;
  }

  add(output: HeaderOutput): void {
    for (const [name, values] of output) {
      const kept = this.headers.get(name);
      if (!kept) this.headers.set(name, [...values]);
      else for (const value of values) if (name === 'set-cookie' || !kept.includes(value)) kept.push(value);
    }
  }

  /** Each header once: a single value as a string, several as a list (sent as separate lines). */
  entries(): [string, string | string[]][] {
    return [...this.headers].map(([name, values]) => [name, values.length === 1 ? (values[0] as string) : values]);
  }
}
