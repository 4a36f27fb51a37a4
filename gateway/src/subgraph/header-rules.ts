import type { FastifyInstance } from 'fastify';
import { requestState } from '../context.js';
import type { HeadersConfig } from '../headers/config.js';
import {
  gatewayHeaderNames,
  responseGuard,
  ResponseHeaderCollector,
  subgraphRequestGuard,
  type HeaderNameSections,
} from '../headers/guards.js';
import { compileHeaderRules, type CompiledHeaderRules } from '../headers/rules.js';

export interface SubgraphHeaderRules {
  /** A subgraph's rules: `headers.all`'s, then its own; compiled on first use and kept. */
  of(name: string): { request: CompiledHeaderRules; response: CompiledHeaderRules };
  /** Registers the hooks that hand subgraph answers' kept headers to the client (only when any subgraph has response rules). */
  register(app: FastifyInstance): void;
}

/** The `headers` section for subgraph calls: rules compiled once per subgraph, and the client side of the response rules. */
export function subgraphHeaderRules(config: { headers: HeadersConfig } & HeaderNameSections): SubgraphHeaderRules {
  const names = gatewayHeaderNames(config);
  const guards = { request: subgraphRequestGuard(names), response: responseGuard(names) };
  const { all, subgraphs } = config.headers;
  const compiled = new Map<string, { request: CompiledHeaderRules; response: CompiledHeaderRules }>();
  const hasResponseRules = all.response.length > 0 || Object.values(subgraphs).some((set) => set.response.length > 0);
  return {
    of(name) {
      let rules = compiled.get(name);
      if (!rules) {
        const own = subgraphs[name];
        rules = {
          request: compileHeaderRules([...all.request, ...(own?.request ?? [])], guards.request),
          response: compileHeaderRules([...all.response, ...(own?.response ?? [])], guards.response),
        };
        compiled.set(name, rules);
      }
      return rules;
    },
    register(app) {
      if (!hasResponseRules) return;
      app.addHook('onRequest', async (request) => {
        requestState(request).subgraphResponseHeaders = new ResponseHeaderCollector();
      });
      app.addHook('onSend', async (request, reply, payload) => {
        const collected = requestState(request).subgraphResponseHeaders;
        if (collected?.size) for (const [name, value] of collected.entries()) void reply.header(name, value);
        return payload;
      });
    },
  };
}
