// ESLint flat config. Formatting is Prettier's job (`npm run format`); these rules are about code.
import js from '@eslint/js';
import { defineConfig, globalIgnores } from 'eslint/config';
import { createNodeResolver, importX } from 'eslint-plugin-import-x';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  globalIgnores(['dist/', 'coverage/', '.scratch/', '.data/', 'bench/results/']),

  // Every TypeScript file: the recommended sets, without type information (fast: no program to build).
  {
    files: ['**/*.ts'],
    extends: [js.configs.recommended, tseslint.configs.recommended],
    languageOptions: { globals: globals.node },
    rules: {
      // `_`-prefixed names are the usual way to say "unused on purpose" (a callback's leading parameters).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },

  // The gateway itself: no `any`, no import cycles, short functions and files.
  {
    files: ['gateway/src/**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      // Without these, import-x cannot read a `.ts` file it reaches and follows no import through it.
      'import-x/extensions': ['.ts', '.js'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      // Sources import each other as `./x.js` (NodeNext); the file on disk is `./x.ts`.
      'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.js'], extensionAlias: { '.js': ['.ts', '.js'] } })],
    },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      // Type-only imports are erased at run time, so this rule skips them; test/architecture.test.ts counts them too.
      'import-x/no-cycle': ['error', { maxDepth: '∞' }],
      'max-lines-per-function': ['error', { max: 120, skipBlankLines: true, skipComments: true, IIFEs: true }],
      // "No file longer than 400 lines" counts the lines of the file as they are, blank lines and comments included.
      'max-lines': ['error', { max: 400, skipBlankLines: false, skipComments: false }],
    },
  },

  // Tests walk untyped JSON answers (`body.data.user.orders.edges[0]`) as `any` on purpose; the gateway may not.
  {
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },

  // Plain JavaScript (this file, scripts/copy-assets.mjs).
  {
    files: ['**/*.js', '**/*.mjs'],
    extends: [js.configs.recommended],
    languageOptions: { globals: globals.node },
  },
);
