/**
 * `npm start`: the whole demo in one process — the users, orders and products subgraphs, then the
 * gateway in front of them.
 *
 * Ports: `USERS_PORT` / `ORDERS_PORT` / `PRODUCTS_PORT` (default 4001 / 4002 / 4003) for the
 * subgraphs, `PORT` (default 4000) for the gateway. The gateway is pointed at the subgraphs'
 * actual URLs, so changing a subgraph port needs nothing else. `GATEWAY_CONFIG` names an optional
 * YAML config file; `REDIS_URL` switches the gateway from its in-memory store to Redis.
 *
 * SIGTERM / SIGINT: the gateway drains first, then the subgraphs close; exit code 0. A second
 * signal exits at once.
 */
import { DEV_ISSUER } from '../gateway/src/auth/dev-secret.js';
import { ConfigError, loadConfig, type GatewayConfig } from '../gateway/src/config/index.js';
import { describeRedis, redisConfigured } from '../gateway/src/redis/client.js';
import { createGateway, type Gateway } from '../gateway/src/server.js';
import { onShutdownSignals, signalExitCode } from '../gateway/src/shutdown-signals.js';
import { ORDERS_TICKER_ENV, startOrdersSubgraph } from '../subgraphs/orders/index.js';
import { startProductsSubgraph } from '../subgraphs/products/index.js';
import { startUsersSubgraph, type SubgraphServer } from '../subgraphs/users/index.js';

type SubgraphStarter = (opts?: { host?: string; port?: number; logger?: boolean }) => Promise<SubgraphServer>;

interface SubgraphPlan {
  name: 'users' | 'orders' | 'products';
  envVar: string;
  port: number;
  start: SubgraphStarter;
}

const SUBGRAPH_HOST = '127.0.0.1';
const DEMO_TICKER_MS = 5000;
const EXAMPLE_QUERY =
  '{ user(id: "user-1") { name orders(first: 2) { edges { node { id total items { quantity product { name price } } } } } } }';

class DemoError extends Error {
  override readonly name = 'DemoError';
}

function portFromEnv(envVar: string, fallback: number): number {
  const raw = process.env[envVar];
  if (raw === undefined || raw === '') return fallback;
  const port = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new DemoError(`${envVar} must be a port number between 0 and 65535, got "${raw}"`);
  }
  return port;
}

function isAddressInUse(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as NodeJS.ErrnoException).code === 'EADDRINUSE';
}

function portTakenMessage(what: string, port: number, envVar: string): string {
  return `${what} cannot listen: port ${port} is already in use. Stop whatever holds it, or pick another port with ${envVar}=<port> (e.g. ${envVar}=${port + 100} npm start).`;
}

/** A URL a person can paste: `0.0.0.0` / `::` listen addresses become `localhost`. */
function browsableOrigin(gateway: Gateway): string {
  const url = new URL(gateway.url);
  if (url.hostname === '0.0.0.0' || url.hostname === '[::]') url.hostname = 'localhost';
  return url.origin;
}

async function closeAll(gateway: Gateway | undefined, subgraphs: readonly SubgraphServer[]): Promise<void> {
  if (gateway) await gateway.close();
  await Promise.all(subgraphs.map((subgraph) => subgraph.close()));
}

async function main(): Promise<void> {
  const plans: SubgraphPlan[] = [
    { name: 'users', envVar: 'USERS_PORT', port: portFromEnv('USERS_PORT', 4001), start: startUsersSubgraph },
    {
      name: 'orders',
      envVar: 'ORDERS_PORT',
      port: portFromEnv('ORDERS_PORT', 4002),
      // The demo ticker moves new orders along every 5 s unless ORDERS_TICKER_MS says otherwise (0: off).
      start: (opts) => startOrdersSubgraph({ ...opts, tickerMs: process.env[ORDERS_TICKER_ENV] ? undefined : DEMO_TICKER_MS }),
    },
    { name: 'products', envVar: 'PRODUCTS_PORT', port: portFromEnv('PRODUCTS_PORT', 4003), start: startProductsSubgraph },
  ];

  const subgraphs: SubgraphServer[] = [];
  let gateway: Gateway | undefined;
  let shuttingDown = false;

  onShutdownSignals({
    force: (signal) => {
      process.stderr.write(`demo: second ${signal}: exiting now\n`);
      process.exit(signalExitCode(signal));
    },
    graceful: (signal) => {
      shuttingDown = true;
      process.stdout.write(`\ndemo: ${signal} received: stopping the gateway, then the subgraphs\n`);
      closeAll(gateway, subgraphs).then(
        () => {
          process.stdout.write('demo: stopped\n');
          process.exit(0);
        },
        (error: unknown) => {
          process.stderr.write(`demo: shutdown failed: ${error instanceof Error ? error.message : String(error)}\n`);
          process.exit(1);
        },
      );
    },
  });

  const fail = async (message: string): Promise<never> => {
    process.stderr.write(`\ndemo: ${message}\n`);
    await closeAll(gateway, subgraphs).catch(() => undefined);
    process.exit(1);
  };

  for (const plan of plans) {
    try {
      subgraphs.push(await plan.start({ host: SUBGRAPH_HOST, port: plan.port }));
    } catch (error) {
      if (isAddressInUse(error)) return fail(portTakenMessage(`the ${plan.name} subgraph`, plan.port, plan.envVar));
      return fail(`the ${plan.name} subgraph failed to start: ${error instanceof Error ? error.message : String(error)}`);
    }
    if (shuttingDown) return;
  }

  const urlOf = (name: SubgraphPlan['name']): string => {
    const server = subgraphs.find((subgraph) => subgraph.name === name);
    if (!server) throw new DemoError(`${name} subgraph missing`);
    return server.url;
  };

  let config: GatewayConfig;
  try {
    const subgraphUrls = {
      users: { url: urlOf('users') },
      orders: { url: urlOf('orders') },
      // The demo's static fallback: an empty `topProducts` and placeholder products while products is down.
      products: { url: urlOf('products'), fallback: { static: 'schema/fallbacks/products.json' } },
    };
    // The users service's legacy REST routes, mounted as /legacy/users/... (unless the config file
    // declares its own routes): callers must sign in, each request costs 1 point of the same budget
    // as GraphQL, the users subgraph's breaker is shared, and GET answers are kept per caller.
    const legacyUsers = {
      prefix: '/legacy/users',
      upstream: new URL(urlOf('users')).origin,
      rewrite: '/api/v1/users',
      methods: ['GET' as const, 'HEAD' as const],
      auth: { mode: 'required' as const },
      cost: 1,
      timeouts: { firstByteMs: 5_000 },
      breaker: 'users',
      fallback: { cache: true },
    };
    const fromFile = loadConfig({ file: process.env.GATEWAY_CONFIG });
    const rest = fromFile.rest.routes.length > 0 ? {} : { rest: { routes: [legacyUsers] } };
    const configured = loadConfig({ file: process.env.GATEWAY_CONFIG, overrides: { subgraphs: subgraphUrls, ...rest } });
    // DEV ONLY: also trust tokens from `npm run token` (refused when NODE_ENV=production), next to
    // whatever issuers the config file names (a list override would replace them).
    const issuers = configured.auth.jwt.issuers;
    config = issuers.some((issuer) => issuer.issuer === DEV_ISSUER.issuer)
      ? configured
      : loadConfig({
          file: process.env.GATEWAY_CONFIG,
          overrides: { subgraphs: subgraphUrls, ...rest, auth: { jwt: { issuers: [...issuers, DEV_ISSUER] } } },
        });
  } catch (error) {
    if (error instanceof ConfigError) return fail(error.message);
    throw error;
  }

  try {
    gateway = createGateway(config);
  } catch (error) {
    return fail(`the gateway cannot start: ${error instanceof Error ? error.message : String(error)}`);
  }
  try {
    await gateway.start();
  } catch (error) {
    if (isAddressInUse(error)) return fail(portTakenMessage('the gateway', config.server.port, 'PORT'));
    return fail(`the gateway failed to start: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (shuttingDown) return;

  const origin = browsableOrigin(gateway);
  const graphqlUrl = `${origin}${config.graphql.path}`;
  const body = JSON.stringify({ query: EXAMPLE_QUERY });
  const lines = [
    '',
    '================ federation gateway demo ================',
    `  GraphQL   ${graphqlUrl}`,
    `  health    ${origin}/health`,
    `  ready     ${origin}/ready`,
    ...(config.metrics.enabled ? [`  metrics   ${origin}${config.metrics.path}`] : []),
    ...config.rest.routes.map((route) => {
      const path = route.prefix ?? route.exact ?? route.pattern ?? '/';
      return `  REST      ${origin}${path} → ${route.upstream ?? route.upstreams?.[0]?.url ?? ''}${route.rewrite ?? path}`;
    }),
    '',
    '  subgraphs',
    ...subgraphs.map((subgraph) => `    ${subgraph.name.padEnd(9)} ${subgraph.url}`),
    '',
    `  store     ${redisConfigured(config.redis) ? `Redis (${describeRedis({ url: config.redis.url, clusterNodes: config.redis.cluster?.nodes })})` : 'in-memory (set REDIS_URL or REDIS_CLUSTER_NODES to use Redis)'}`,
    '',
    '  try (orders are private: sign in as user-1 with a DEV-ONLY demo token):',
    '    TOKEN=$(npm run -s token -- --sub user-1 --scopes "read:email orders:write")',
    `    curl -s ${graphqlUrl} \\`,
    '      -H \'content-type: application/json\' -H "authorization: Bearer $TOKEN" \\',
    `      -d '${body}'`,
    ...(config.rest.routes.some((route) => route.prefix === '/legacy/users')
      ? [`    curl -s ${origin}/legacy/users/user-1 -H "authorization: Bearer $TOKEN"`]
      : []),
    '',
    '  Ctrl-C (SIGINT) or SIGTERM stops the gateway, then the subgraphs.',
    '==========================================================',
    '',
  ];
  process.stdout.write(lines.join('\n'));
}

main().catch((error: unknown) => {
  process.stderr.write(`demo: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
