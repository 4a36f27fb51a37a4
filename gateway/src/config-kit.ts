import { z } from 'zod';

/**
 * Building blocks of the features' config schemas, and the error a bad config raises.
 *
 * This file sits at the root of `gateway/src`, not in `config/`, on purpose: `config/` imports every
 * feature's `config.ts` to compose the root schema, so a feature that imported a helper from
 * `config/` would close a loop between the two folders. This module imports nothing of ours, so
 * any feature (and `config/`) may use it.
 */

export const port = z.number().int().min(0).max(65_535);
export const positiveInt = z.number().int().positive();
/** The longest delay Node's timers wait (2^31 − 1 ms, about 24.8 days): a longer one fires at once. */
export const MAX_TIMER_MS = 2_147_483_647;
/** A duration in milliseconds, which some timer waits: at most {@link MAX_TIMER_MS}. */
export const durationMs = positiveInt.max(MAX_TIMER_MS);
/** The same where 0 is allowed (what 0 means, usually "off", each field says). */
export const durationOrZeroMs = z.number().int().min(0).max(MAX_TIMER_MS);

/** `fields` with each default of `defaults` applied. */
export function withDefaults<S extends Record<string, z.ZodType>>(fields: S, defaults: { [K in keyof S]: z.output<S[K]> }) {
  return Object.fromEntries(
    Object.entries(fields).map(([key, schema]) => [key, (schema as z.ZodType).default(defaults[key as keyof S] as never)]),
  ) as { [K in keyof S]: z.ZodDefault<S[K]> };
}

/** A strict group of `fields` with their `defaults`, itself defaulted when absent. */
export function defaultedGroup<S extends Record<string, z.ZodType>>(fields: S, defaults: { [K in keyof S]: z.output<S[K]> }) {
  return z
    .object(withDefaults(fields, defaults))
    .strict()
    .prefault({} as never);
}

/** The entries of `value` that are set: what an override of optional fields puts over its defaults. */
export function definedOnly<T extends object>(value: T | undefined): Partial<T> {
  return Object.fromEntries(Object.entries(value ?? {}).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** A config that cannot be read or does not validate; start-up stops with its message. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}
