import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { GENERATED_PAGES } from './reference-tables.js';

/** Regenerates docs/configuration.md and docs/errors.md from the config schema and the error registry. */
for (const [path, page] of Object.entries(GENERATED_PAGES)) {
  const file = fileURLToPath(new URL(`../${path}`, import.meta.url));
  const after = page();
  if (existsSync(file) && readFileSync(file, 'utf8') === after) {
    console.log(`${path} is up to date`);
  } else {
    writeFileSync(file, after);
    console.log(`${path} regenerated`);
  }
}
