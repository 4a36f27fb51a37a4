import { z } from 'zod';
import { positiveInt } from '../config-kit.js';

/**
 * A route's transforms, after Kong's request- and response-transformer: headers and query
 * parameters of the request, headers of the answer, and fields of JSON answers up to a size.
 * Within one set, the steps run in this order: remove, rename, replace, add.
 */

const headerName = z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'a header name');
const paramName = z.string().min(1);
const templated = z
  .string()
  .describe('A value; `$(path.<param>)`, `$(principal.id)`, `$(principal.tier)`, `$(principal.claim.<name>)` are filled in.');

const setOf = (name: z.ZodString, what: string) =>
  z
    .object({
      remove: z.array(name).default([]).describe(`${what} removed.`),
      rename: z.record(name, name).default({}).describe(`${what} renamed, \`from: to\` (the value kept; an existing \`to\` replaced).`),
      replace: z.record(name, templated).default({}).describe(`${what} whose value is replaced, only when present.`),
      add: z.record(name, templated).default({}).describe(`${what} added, only when absent.`),
    })
    .strict()
    .optional();

const fieldPath = z
  .string()
  .regex(/^[^.\s]+(\.[^.\s]+)*$/, 'a dotted path of field names, e.g. `user.internal_id`')
  .describe('A dotted path; through an array, every element.');

export const TransformSchema = z
  .object({
    request: z
      .object({ headers: setOf(headerName, 'Request headers'), query: setOf(paramName, 'Query parameters') })
      .strict()
      .optional(),
    response: z
      .object({
        headers: setOf(headerName, 'Response headers'),
        json: z
          .object({
            remove: z.array(fieldPath).default([]).describe('Fields removed from JSON answers.'),
            rename: z.record(fieldPath, z.string().min(1)).default({}).describe('Fields renamed, `path: newName` (in the same object).'),
            maxBytes: positiveInt
              .default(1_048_576)
              .describe('Largest answer transformed; bigger, non-JSON, compressed or unparsable answers stream through untouched.'),
          })
          .strict()
          .optional(),
      })
      .strict()
      .optional(),
  })
  .strict()
  .describe("The route's request and response transforms; identity headers the gateway sets are never touched.");

export type TransformConfig = z.output<typeof TransformSchema>;
export type TransformSet = NonNullable<NonNullable<TransformConfig['request']>['headers']>;
