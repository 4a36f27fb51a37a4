import { z } from 'zod';
import { positiveInt } from '../config-kit.js';

/** The `supergraph` section: the SDL file served, and how its changes are picked up. */
export const SupergraphConfigSchema = z
  .object({
    path: z
      .string()
      .min(1)
      .default('schema/supergraph.graphql')
      .describe('Supergraph SDL file to serve (relative to the working directory).'),
    watch: z.boolean().default(true).describe('Reload the supergraph when the file changes.'),
    pollIntervalMs: positiveInt
      .default(1_000)
      .describe('How often the file is checked for changes (polling survives atomic renames and symlink swaps).'),
  })
  .strict()
  .prefault({});

export type SupergraphConfig = z.output<typeof SupergraphConfigSchema>;
