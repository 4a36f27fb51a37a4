import { z } from 'zod';

/**
 * What a REST route matches on besides its path: the host, and predicates on request headers and
 * query parameters. Every key is optional: a route without them matches as a plain prefix route.
 */

const regexSource = z.string().refine((source) => {
  try {
    new RegExp(source);
    return true;
  } catch {
    return false;
  }
}, 'a valid regular expression');

/** One predicate on a header or a query parameter: exactly one of `present`, `equals`, `regex`. */
export const PredicateSchema = z
  .object({
    name: z.string().min(1).describe('Header name (any case) or query parameter name (exact).'),
    present: z.boolean().optional().describe('`true`: the header or parameter is there (any value); `false`: it is absent.'),
    equals: z.string().optional().describe('Its value is exactly this (the first value, when repeated; query values percent-decoded).'),
    regex: regexSource.optional().describe('Its value matches this regular expression (unanchored: write `^…$` for a whole value).'),
  })
  .strict()
  .refine(
    (predicate) => [predicate.present, predicate.equals, predicate.regex].filter((value) => value !== undefined).length === 1,
    'give exactly one of present, equals or regex',
  );

export type RoutePredicate = z.output<typeof PredicateSchema>;

export const hostPattern = z
  .string()
  .regex(/^(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$/, 'a host name (`api.example.com`) or a wildcard (`*.example.com`), no port')
  .transform((value) => value.toLowerCase());

/** The path of a pattern route: segments, `:name` for a named parameter (one whole segment). */
export const pathPattern = z
  .string()
  .regex(/^(\/([A-Za-z0-9._~!$&'()*+,;=@-]+|:[A-Za-z_][A-Za-z0-9_]*))+$/, 'segments starting with `/`, each static or `:name`')
  .refine((value) => !value.split('/').some((segment) => segment === '.' || segment === '..'), 'no `.` or `..` segments')
  .refine((value) => {
    const names = value.split('/').filter((segment) => segment.startsWith(':'));
    return new Set(names).size === names.length;
  }, 'each parameter name once');

/** The parameter names of a pattern (`/users/:id` → `['id']`). */
export function patternParams(pattern: string): string[] {
  return pattern
    .split('/')
    .filter((segment) => segment.startsWith(':'))
    .map((segment) => segment.slice(1));
}
