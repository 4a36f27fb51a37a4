import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SubgraphName } from './subgraph-names.js';

export function subgraphSchemaPath(name: SubgraphName, subgraphsDir = DEFAULT_SUBGRAPHS_DIR): string {
  return join(subgraphsDir, name, 'schema.graphql');
}

/**
 * The directory holding one folder per subgraph (`users/schema.graphql`, ...). When running from a
 * compiled `dist/` tree it points back at the source tree, because tsc does not copy `.graphql` files.
 */
export const DEFAULT_SUBGRAPHS_DIR = ((): string => {
  const here = fileURLToPath(new URL('../', import.meta.url));
  if (existsSync(subgraphSchemaPath('users', here))) return here;
  const marker = '/dist/';
  const normalised = here.replaceAll('\\', '/');
  const distIndex = normalised.lastIndexOf(marker);
  return distIndex < 0 ? here : normalised.slice(0, distIndex + 1) + normalised.slice(distIndex + marker.length);
})();
