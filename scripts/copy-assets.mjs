// Copies the gateway's run-time files that tsc does not emit (Lua scripts, ...) next to the
// compiled code, keeping their paths: `node scripts/copy-assets.mjs [outDir=dist]`.
// test/deploy.test.ts checks that every non-TypeScript file under gateway/src gets copied.
import { cpSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const ASSET_EXTENSIONS = ['.lua'];
const outDir = process.argv[2] ?? 'dist';

function* assets(dir) {
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) yield* assets(path);
    else if (ASSET_EXTENSIONS.some((ext) => path.endsWith(ext))) yield path;
  }
}

for (const file of assets('gateway/src')) cpSync(file, join(outDir, file));
