import { createRequire } from 'node:module';
import * as graphql from 'graphql';
import { describe, expect, it } from 'vitest';

describe('test toolchain', () => {
  it('loads the same graphql module as Node and Apollo do (no dual-package copy)', () => {
    const require = createRequire(import.meta.url);
    const loadedByNode = require('graphql') as typeof graphql;
    expect(loadedByNode.GraphQLError).toBe(graphql.GraphQLError);
    expect(graphql.version.startsWith('16.')).toBe(true);
  });
});
