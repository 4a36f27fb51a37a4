import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
// The gateway's signal policy, so the demo subgraphs stop the same way (a relayed copy of Ctrl-C is
// ignored, a later second signal forces the exit).
import { onShutdownSignals, signalExitCode } from '../../gateway/src/shutdown-signals.js';
import type { StartSubgraphOptions, SubgraphServer } from './server.js';

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

/**
 * Starts a subgraph from the command line, logs its URL and closes it on SIGTERM / SIGINT.
 * `HOST` sets the listen address here only (e.g. `HOST=0.0.0.0` in a container); the port comes
 * from `<NAME>_PORT` as for every start.
 */
export function runSubgraphFromCommandLine(start: (opts?: StartSubgraphOptions) => Promise<SubgraphServer>): void {
  start({ host: process.env['HOST'] || undefined }).then(
    (server) => {
      console.log(`${server.name} subgraph ready at ${server.url}`);
      onShutdownSignals({
        graceful(signal) {
          console.log(`${server.name} subgraph: ${signal} received, closing`);
          server.close().then(
            () => process.exit(0),
            (error: unknown) => {
              console.error(error);
              process.exit(1);
            },
          );
        },
        force: (signal) => process.exit(signalExitCode(signal)),
      });
    },
    (error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
}
