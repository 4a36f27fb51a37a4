import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { composeServices } from '@apollo/composition';
import { parse } from 'graphql';
import { isMainModule } from '../subgraphs/shared/main-module.js';
import { DEFAULT_SUBGRAPHS_DIR, subgraphSchemaPath } from '../subgraphs/shared/paths.js';
import { DEFAULT_SUBGRAPH_PORTS, SUBGRAPH_NAMES } from '../subgraphs/shared/subgraph-names.js';

/**
 * Composes the demo subgraphs' schema.graphql files into schema/supergraph.graphql.
 *
 *   npm run compose                           writes schema/supergraph.graphql
 *   npm run compose -- --check                exits 1 when the committed file is out of date
 *   npm run compose -- --subgraphs-dir DIR    reads DIR/{users,orders,products}/schema.graphql
 *   npm run compose -- --out FILE             writes FILE instead
 *
 * The subgraph URLs are the demo's default ports; the gateway overrides them at run time.
 */

export const DEFAULT_SUPERGRAPH_PATH = fileURLToPath(new URL('./supergraph.graphql', import.meta.url));
/** The copy the Kubernetes ConfigMap generator reads (kustomize refuses files outside deploy/k8s). */
export const K8S_SUPERGRAPH_COPY = fileURLToPath(new URL('../deploy/k8s/supergraph.graphql', import.meta.url));

type ServiceDefinition = Parameters<typeof composeServices>[0][number];

export interface CompositionErrorDetail {
  code: string;
  message: string;
}

export class SupergraphCompositionError extends Error {
  constructor(readonly errors: readonly CompositionErrorDetail[]) {
    super(`Composition failed with ${errors.length} error(s):\n${formatCompositionErrors(errors)}`);
    this.name = 'SupergraphCompositionError';
  }
}

/** One line per error: `[CODE] message`, with any line breaks in a message indented below it. */
export function formatCompositionErrors(errors: readonly CompositionErrorDetail[]): string {
  return errors.map(({ code, message }) => `  [${code}] ${message.replaceAll('\n', '\n    ')}`).join('\n');
}

export function readDemoSubgraphs(subgraphsDir = DEFAULT_SUBGRAPHS_DIR): ServiceDefinition[] {
  return SUBGRAPH_NAMES.map((name) => {
    const path = subgraphSchemaPath(name, subgraphsDir);
    return {
      name,
      url: `http://localhost:${DEFAULT_SUBGRAPH_PORTS[name]}/graphql`,
      typeDefs: parse(readFileSync(path, 'utf8')),
    };
  });
}

/** The supergraph SDL (with a trailing newline), or a SupergraphCompositionError listing every error. */
export function composeDemoSupergraph(subgraphsDir = DEFAULT_SUBGRAPHS_DIR): string {
  const result = composeServices(readDemoSubgraphs(subgraphsDir));
  if (result.errors) {
    throw new SupergraphCompositionError(
      result.errors.map((error) => ({ code: String(error.extensions['code'] ?? 'UNKNOWN'), message: error.message })),
    );
  }
  return `${result.supergraphSdl}\n`;
}

function readFileOrEmpty(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function main(): number {
  const { values } = parseArgs({
    options: {
      'subgraphs-dir': { type: 'string', default: process.env['SUBGRAPHS_DIR'] ?? DEFAULT_SUBGRAPHS_DIR },
      out: { type: 'string', default: DEFAULT_SUPERGRAPH_PATH },
      check: { type: 'boolean', default: false },
    },
  });
  let supergraph: string;
  try {
    supergraph = composeDemoSupergraph(values['subgraphs-dir']);
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    return 1;
  }
  if (values.check) {
    if (readFileOrEmpty(values.out) === supergraph) return 0;
    console.error(`${values.out} is out of date: run \`npm run compose\` and commit the result.`);
    return 1;
  }
  writeFileSync(values.out, supergraph);
  console.log(`Wrote ${values.out}`);
  if (values.out === DEFAULT_SUPERGRAPH_PATH) {
    writeFileSync(K8S_SUPERGRAPH_COPY, supergraph);
    console.log(`Wrote ${K8S_SUPERGRAPH_COPY}`);
  }
  return 0;
}

if (isMainModule(import.meta.url)) process.exitCode = main();
