import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { manifestOf } from '../gateway/src/persisted/write-manifest.js';

/**
 * `npm run manifest -- DIR [--out FILE]`
 *
 * Writes a trusted-documents manifest (Apollo's `apollo-persisted-query-manifest` format) from the
 * `.graphql` files of a directory (sorted, not recursive): one entry per named operation, with the
 * fragments it uses from the same file. Without `--out` it prints the manifest.
 */
const { values, positionals } = parseArgs({ allowPositionals: true, options: { out: { type: 'string' } } });
const dir = positionals[0];
if (!dir) {
  process.stderr.write('usage: npm run manifest -- DIR [--out FILE]\n');
  process.exit(1);
}
try {
  const files = readdirSync(dir)
    .filter((file) => file.endsWith('.graphql'))
    .sort();
  const manifest = manifestOf(files.map((file) => ({ name: join(dir, file), text: readFileSync(join(dir, file), 'utf8') })));
  const text = `${JSON.stringify(manifest, null, 2)}\n`;
  if (values.out) {
    writeFileSync(values.out, text);
    process.stderr.write(`manifest: ${manifest.operations.length} operations written to ${values.out}\n`);
  } else process.stdout.write(text);
} catch (error) {
  process.stderr.write(`manifest: ${(error as Error).message}\n`);
  process.exit(1);
}
