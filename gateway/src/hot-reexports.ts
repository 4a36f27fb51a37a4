import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/**
 * Packages whose re-exports are read on the hot path. @apollo/federation-internals re-exports some
 * 300 functions through getters (TypeScript's CommonJS `__exportStar`), and @apollo/gateway calls
 * them through that object for every value it shapes (`(0, federation_internals_1.assert)(…)`):
 * under load, 6.5% of the gateway's CPU went into those getters alone (`bench/profile.ts`).
 */
export const HOT_PACKAGES = ['@apollo/federation-internals'] as const;

/** Each flattened package's original exports (its getters), for the test that checks nothing moved. */
export const originalExports = new Map<string, Readonly<Record<string, unknown>>>();

/** Marks a plain copy, so that a second copy of this module (e.g. the sources and the build in one process) leaves it alone. */
const FLATTENED = Symbol.for('gateway.flattenedExports');

/**
 * Replaces each hot package's exports in the CommonJS module cache with a plain object holding the
 * same values, so that every module loaded afterwards reads plain properties. It runs when this
 * module is first imported, which the entry points do before anything else; run later, it changes
 * nothing for the modules already loaded. Sound while the package assigns each export once, when
 * it loads (a getter would also see a later assignment): a test checks that every flattened value
 * is still what the original getter returns after the gateway has served requests.
 */
function flattenHotReexports(): void {
  for (const specifier of HOT_PACKAGES) {
    const path = require.resolve(specifier);
    const original = require(path) as Record<string, unknown>;
    const cached = require.cache[path];
    if (!cached || FLATTENED in original) continue;
    const flat: Record<string, unknown> = {};
    for (const key of Object.keys(original)) flat[key] = original[key];
    Object.defineProperty(flat, '__esModule', { value: true });
    Object.defineProperty(flat, FLATTENED, { value: true });
    originalExports.set(specifier, original);
    cached.exports = flat;
  }
}

flattenHotReexports();
