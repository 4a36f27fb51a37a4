import type { FastifyInstance } from 'fastify';
import { inheritedByOperations, requestState, type RequestState } from '../context.js';
import type { HeadersConfig } from '../headers/config.js';
import {
  gatewayHeaderNames,
  responseGuard,
  ResponseHeaderCollector,
  subgraphRequestGuard,
  type HeaderNameSections,
} from '../headers/guards.js';
import { compileHeaderRules, type CompiledHeaderRules } from '../headers/rules.js';

export interface SubgraphRules {
  request: CompiledHeaderRules;
  response: CompiledHeaderRules;
}

/** The `headers` section of one config, compiled: each subgraph's rules (`headers.all`'s, then its own). */
export interface HeaderRuleSet {
  /** A subgraph's rules; compiled on first use and kept. */
  of(name: string): SubgraphRules;
  readonly hasResponseRules: boolean;
}

declare module '../context.js' {
  interface RequestState {
    /** The subgraph header rules serving when the request arrived: a config reload does not change them under it. */
    subgraphHeaderRules?: HeaderRuleSet | undefined;
  }
}

inheritedByOperations('subgraphHeaderRules');

export interface SubgraphHeaderRules {
  /** A subgraph's rules for one request: the set it arrived under, or the one serving now. */
  of(name: string, state: RequestState | undefined): SubgraphRules;
  /** Registers the hooks that pin the request's rule set and hand subgraph answers' kept headers to the client. */
  register(app: FastifyInstance): void;
  /** Compiles the rules of a new config (a reload); `commit` makes them serve for requests that arrive from then on. */
  prepare(config: { headers: HeadersConfig } & HeaderNameSections): { commit(): void };
}

/** The `headers` section for subgraph calls: rules compiled once per subgraph, and the client side of the response rules. */
export function subgraphHeaderRules(config: { headers: HeadersConfig } & HeaderNameSections): SubgraphHeaderRules {
  let current = compileRuleSet(config);
  return {
    of: (name, state) => (state?.subgraphHeaderRules ?? current).of(name),
    register(app) {
      app.addHook('onRequest', async (request) => {
        const state = requestState(request);
        state.subgraphHeaderRules = current;
        if (current.hasResponseRules) state.subgraphResponseHeaders = new ResponseHeaderCollector();
      });
      app.addHook('onSend', async (request, reply, payload) => {
        const collected = requestState(request).subgraphResponseHeaders;
        // A subgraph's header never replaces one the gateway set on its answer (RateLimit, CORS); its
        // Vary adds to the gateway's (a cache must tell apart what either one's answer depends on).
        if (!collected?.size) return payload;
        for (const [name, value] of collected.entries()) {
          if (!reply.hasHeader(name)) void reply.header(name, value);
          else if (name === 'vary') void reply.header('vary', mergedVary(reply.getHeader('vary'), value));
        }
        return payload;
      });
    },
    prepare(next) {
      const set = compileRuleSet(next);
      // Compiled now, so a rule that cannot compile fails the reload instead of a later call.
      for (const name of Object.keys(next.headers.subgraphs)) set.of(name);
      return { commit: () => void (current = set) };
    },
  };
}

function compileRuleSet(config: { headers: HeadersConfig } & HeaderNameSections): HeaderRuleSet {
  const names = gatewayHeaderNames(config);
  const guards = { request: subgraphRequestGuard(names), response: responseGuard(names) };
  const { all, subgraphs } = config.headers;
  const compiled = new Map<string, SubgraphRules>();
  return {
    hasResponseRules: all.response.length > 0 || Object.values(subgraphs).some((set) => set.response.length > 0),
    of(name) {
      let rules = compiled.get(name);
      if (!rules) {
        const own = Object.hasOwn(subgraphs, name) ? subgraphs[name] : undefined;
        rules = {
          request: compileHeaderRules([...all.request, ...(own?.request ?? [])], guards.request),
          response: compileHeaderRules([...all.response, ...(own?.response ?? [])], guards.response),
        };
        compiled.set(name, rules);
      }
      return rules;
    },
  };
}

/** The gateway's `Vary` with a subgraph's values added, each name once (case-insensitive). */
function mergedVary(own: unknown, added: string | string[]): string {
  const names: string[] = [];
  for (const part of [String(own ?? ''), ...(Array.isArray(added) ? added : [added])].join(',').split(',')) {
    const name = part.trim();
    if (name && !names.some((kept) => kept.toLowerCase() === name.toLowerCase())) names.push(name);
  }
  return names.join(', ');
}
