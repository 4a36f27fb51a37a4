import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { withGeneratedTables } from './reference-tables.js';

/** Regenerates the README's config and error-code tables from the code. */
const readmePath = fileURLToPath(new URL('../README.md', import.meta.url));
const before = readFileSync(readmePath, 'utf8');
const after = withGeneratedTables(before);
if (after === before) {
  console.log('README tables are up to date');
} else {
  writeFileSync(readmePath, after);
  console.log('README tables regenerated');
}
