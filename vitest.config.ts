import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

export default defineConfig({
  resolve: {
    // Load graphql the way Node and Apollo load it at run time. graphql 16 ships index.js (CJS, what
    // Node resolves) and index.mjs (its "module" field, which Vite would pick): two copies of graphql
    // in one process break `instanceof GraphQLError` and schema identity, so tests would not run the
    // code as production runs it. test/toolchain.test.ts guards this.
    alias: [{ find: /^graphql$/, replacement: require.resolve('graphql') }],
  },
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    // Tests start real servers; keep files in separate workers but bounded for 2-core machines.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
