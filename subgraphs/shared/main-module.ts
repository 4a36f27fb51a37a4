import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import type { SubgraphServer } from './server.js';

/** True when the module with this `import.meta.url` is the script Node was started with. */
export function isMainModule(moduleUrl: string): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  if (moduleUrl === pathToFileURL(entry).href) return true;
  try {
    return moduleUrl === pathToFileURL(realpathSync(entry)).href;
  } catch {
    return false;
  }
}

/** Starts a subgraph from the command line, logs its URL and closes it on SIGTERM / SIGINT. */
export function runSubgraphFromCommandLine(start: () => Promise<SubgraphServer>): void {
  start().then(
    (server) => {
      console.log(`${server.name} subgraph ready at ${server.url}`);
      const shutDown = (signal: NodeJS.Signals): void => {
        console.log(`${server.name} subgraph: ${signal} received, closing`);
        server.close().then(
          () => process.exit(0),
          (error: unknown) => {
            console.error(error);
            process.exit(1);
          },
        );
      };
      process.once('SIGTERM', shutDown);
      process.once('SIGINT', shutDown);
    },
    (error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
}
