import { loadConfig } from '/work/main/gateway/src/config.ts';
import { createGateway } from '/work/main/gateway/src/server.ts';
const config = loadConfig({ env: {}, overrides: { server: { host: '127.0.0.1', port: 0 }, logging: { level: 'warn' } } });
const gw = createGateway(config);
await gw.listen();
let failed = 0; const statuses: Record<string, number> = {};
for (let i = 0; i < 40; i++) {
  const body = JSON.stringify({ query: `# ${'x'.repeat(1_100_000 + i * 1000)}\n{ a }` });
  const r = await fetch(`${gw.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer abc.def.ghi' }, body }).catch((e) => e as Error);
  if (r instanceof Error) { failed++; continue; }
  statuses[`${r.status} ${r.headers.get('connection')}`] = (statuses[`${r.status} ${r.headers.get('connection')}`] ?? 0) + 1;
  await r.text();
}
console.log({ failed, statuses });
await gw.close();
