import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigSchema } from '../gateway/src/config.js';
import { ERRORS } from '../gateway/src/errors.js';
import { configTable, errorTable, withGeneratedTables } from '../scripts/reference-tables.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

describe('README reference tables', () => {
  it('match the config schema and the error registry (run `npm run docs` to regenerate)', () => {
    expect(withGeneratedTables(readme)).toBe(readme);
  });

  it('list every config key and every error code', () => {
    const table = configTable();
    for (const section of Object.keys(ConfigSchema.shape)) expect(table).toContain(`\`${section}.`);
    expect(table).toContain('`server.port` | port | `4000` | `PORT`');
    expect(table).toContain('`subgraphs.<name>.url` | URL | (unset) | `SUBGRAPH_<NAME>_URL`');
    const errors = errorTable();
    for (const code of Object.keys(ERRORS)) expect(errors).toContain(`| \`${code}\` |`);
  });
});
