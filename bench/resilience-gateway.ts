/**
 * One gateway for a benchmark run, in its own process: reads a config (JSON, as `GatewayConfigInput`)
 * from argv[2], listens on 127.0.0.1 port 0, prints `{"url": ...}` when ready, closes on SIGTERM.
 * Over IPC, any message is answered with this process's `process.cpuUsage()` (CPU per request is
 * far less disturbed by other load on the machine than requests per second).
 */
import { loadConfig, type GatewayConfigInput } from '../gateway/src/config/index.js';
import { createGateway } from '../gateway/src/server.js';

const overrides = JSON.parse(process.argv[2] ?? '{}') as GatewayConfigInput;
const config = loadConfig({
  env: {},
  overrides: { ...overrides, server: { host: '127.0.0.1', port: 0 }, logging: { level: 'warn' }, metrics: { defaultMetrics: false } },
});
const gateway = createGateway(config);
await gateway.start();
console.log(JSON.stringify({ url: gateway.url }));
process.on('message', () => process.send?.(process.cpuUsage()));
process.on('SIGTERM', () => {
  void gateway.close().then(() => process.exit(0));
});
