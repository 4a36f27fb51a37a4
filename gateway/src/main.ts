import './hot-reexports.js';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type GatewayConfig } from './config/index.js';
import { applyGcSettings } from './gc-settings.js';
import { endLog } from './observability/logging.js';
import { createGateway, type Gateway } from './server.js';
import { onShutdownSignals, signalExitCode } from './shutdown-signals.js';

/**
 * Start-up: read the config, build the gateway, listen, and shut down gracefully on SIGTERM/SIGINT;
 * SIGHUP reloads the config.
 *
 * Exit codes: 0 after a clean shutdown; 1 when the config is invalid, the supergraph cannot be
 * loaded, or in-flight requests outlived `server.shutdownTimeoutMs` and had to be cut; 130/143 on a
 * second signal during shutdown (the operator insisted; a copy of the first signal relayed by npm
 * or the terminal within a second does not count).
 */
async function main(): Promise<void> {
  const { values } = parseArgs({ options: { config: { type: 'string', short: 'c' } }, allowPositionals: false });
  let config: GatewayConfig;
  let gateway: Gateway;
  const file = values.config ?? process.env.GATEWAY_CONFIG;
  try {
    config = loadConfig({ file });
    applyGcSettings(config.server);
    // A reload reads the same file and the environment again, through the same schema.
    gateway = createGateway(config, { configSource: { file, load: () => loadConfig({ file }) } });
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    // e.g. an issuer whose key cannot be read, or the demo secret under NODE_ENV=production.
    process.stderr.write(`cannot start the gateway: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  }

  installShutdown(gateway);
  // SIGHUP: reload the config (all or nothing; the outcome is logged and counted by the reloader).
  process.on('SIGHUP', () => void gateway.reloadConfig('signal'));
  try {
    await gateway.start();
  } catch {
    process.exit(1);
  }
}

function installShutdown(gateway: Gateway): void {
  let exiting = false;
  // Once: the log is ended (every line written, in order) and nothing may log after it.
  const exit = (code: number, logTimeoutMs?: number) => {
    if (exiting) return;
    exiting = true;
    void endLog(gateway.logger, logTimeoutMs).then(() => process.exit(code));
  };
  onShutdownSignals({
    force: (signal) => {
      if (exiting) return;
      gateway.logger.warn({ signal }, 'second signal: exiting now');
      exit(signalExitCode(signal), 200);
    },
    graceful: (signal) => {
      const timeoutMs = gateway.config.server.shutdownTimeoutMs;
      gateway.logger.info({ signal, timeoutMs }, 'shutting down: finishing in-flight requests');
      const deadline = setTimeout(() => {
        gateway.logger.error({ timeoutMs }, 'shutdown deadline passed: cutting remaining connections');
        gateway.app.server.closeAllConnections();
        setTimeout(() => exit(1, 500), 100).unref();
      }, timeoutMs);
      deadline.unref();
      gateway.close().then(
        () => {
          clearTimeout(deadline);
          if (exiting) return;
          gateway.logger.info('shutdown complete');
          exit(0);
        },
        (error: unknown) => {
          if (exiting) return;
          gateway.logger.error({ err: error instanceof Error ? error.message : String(error) }, 'shutdown failed');
          exit(1);
        },
      );
    },
  });
}

process.on('unhandledRejection', (reason) => {
  process.stderr.write(`unhandled rejection: ${reason instanceof Error ? reason.message : String(reason)}\n`);
});

void main();
