import { loadConfig, type GatewayConfigInput } from '../../gateway/src/config/index.js';
import { createGateway, type Gateway, type GatewayOptions } from '../../gateway/src/server.js';
import { LogCapture } from './logs.js';

export interface TestGateway {
  gateway: Gateway;
  url: string;
  graphqlUrl: string;
  logs: LogCapture;
  close(): Promise<void>;
}

/**
 * Starts a real gateway on 127.0.0.1 port 0 with the given config (no environment is read): the
 * `configFile`, if any, then `overrides`. A config reload reads the file again, with the same overrides.
 */
export async function startTestGateway(
  overrides: GatewayConfigInput,
  options: Omit<GatewayOptions, 'logDestination' | 'configSource'> & { configFile?: string } = {},
): Promise<TestGateway> {
  const { configFile, ...gatewayOptions } = options;
  const load = () =>
    loadConfig({
      file: configFile,
      env: {},
      overrides: {
        ...overrides,
        server: { host: '127.0.0.1', port: 0, ...overrides.server },
        logging: { level: 'info', ...overrides.logging },
        metrics: { defaultMetrics: false, ...overrides.metrics },
        // Tests of other capabilities compare whole response bodies: extensions.cost only where asked for.
        rateLimit: { extensions: false, ...overrides.rateLimit },
      },
    });
  const config = load();
  const logs = new LogCapture();
  const gateway = createGateway(config, { ...gatewayOptions, logDestination: logs, configSource: { file: configFile, load } });
  await gateway.start();
  return {
    gateway,
    url: gateway.url,
    graphqlUrl: `${gateway.url}${config.graphql.path}`,
    logs,
    close: () => gateway.close(),
  };
}

export interface GraphqlResult {
  status: number;
  headers: Headers;
  body: { data?: Record<string, unknown> | null; errors?: { message: string; extensions?: Record<string, unknown> }[] } & Record<
    string,
    unknown
  >;
}

export async function postGraphql(
  url: string,
  payload: { query?: string; variables?: Record<string, unknown>; operationName?: string },
  headers: Record<string, string> = {},
): Promise<GraphqlResult> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(payload),
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as GraphqlResult['body'] };
}
