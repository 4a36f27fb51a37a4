import { z } from 'zod';
import { durationMs } from '../config-kit.js';

/** The `reload` section: whether the gateway watches its config file and applies a change by itself. */
export const ReloadConfigSchema = z
  .object({
    watch: z
      .boolean()
      .default(false)
      .describe(
        'Reload the config when its file changes (as on SIGHUP or `POST /admin/config/reload`). Off: only the signal and the admin API reload it.',
      ),
    watchIntervalMs: durationMs.default(2000).describe('How often the config file is checked for a change while `watch` is on.'),
  })
  .strict()
  .prefault({});

export type ReloadConfig = z.output<typeof ReloadConfigSchema>;
