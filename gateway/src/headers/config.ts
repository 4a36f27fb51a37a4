import { z } from 'zod';

/**
 * The header rule language, in Apollo Router's YAML shape: an ordered list of `propagate`, `insert`
 * and `remove` rules. It is used by the `headers` section (subgraph calls, both ways) and by
 * `rest.routes[].headers` (REST routes, both ways). What each rule does is in rules.ts.
 */

/** A header name (an RFC 9110 token), kept lower-case. */
const headerName = z
  .string()
  .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, "a header name (letters, digits and !#$%&'*+.^_`|~-, no spaces or colons)")
  .transform((name) => name.toLowerCase());

/** A header value: printable, no CR, LF or other control characters. */
const headerValue = z.string().regex(/^[\t\x20-\x7e\x80-\xff]*$/, 'a header value without control characters (no CR or LF)');

/** A regular expression over header names (matched case-insensitively); an invalid one is refused here. */
const nameRegex = z
  .string()
  .min(1)
  .superRefine((source, ctx) => {
    try {
      new RegExp(source, 'i');
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: `not a valid regular expression: ${(error as Error).message}` });
    }
  });

const PropagateSchema = z
  .object({
    named: headerName.optional().describe('The header to copy, by name.'),
    rename: headerName.optional().describe('Send it under this name instead (with `named` only).'),
    default: headerValue.optional().describe('Value sent when the header is absent (with `named` only).'),
    matching: nameRegex.optional().describe('Copy every header whose name matches this regular expression (case-insensitive).'),
  })
  .strict()
  .superRefine((rule, ctx) => {
    if ((rule.named === undefined) === (rule.matching === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'give exactly one of named or matching' });
    }
    if (rule.matching !== undefined && (rule.rename !== undefined || rule.default !== undefined)) {
      ctx.addIssue({ code: 'custom', message: 'rename and default go with named, not with matching' });
    }
  });

const InsertSchema = z
  .object({
    name: headerName.describe('The header to set.'),
    value: headerValue.optional().describe('A static value.'),
    from_claim: z.string().min(1).optional().describe("The value of this claim of the caller's token (its name as written in the token)."),
    from_principal: z
      .enum(['tier', 'scopes'])
      .optional()
      .describe("The caller's tier, or its scopes separated by spaces (as the gateway resolved them)."),
    default: headerValue.optional().describe('Value set when the claim is absent or the caller has no tier or scopes.'),
  })
  .strict()
  .superRefine((rule, ctx) => {
    const sources = [rule.value, rule.from_claim, rule.from_principal].filter((source) => source !== undefined).length;
    if (sources !== 1) ctx.addIssue({ code: 'custom', message: 'give exactly one of value, from_claim or from_principal' });
    if (rule.value !== undefined && rule.default !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['default'], message: 'default goes with from_claim or from_principal' });
    }
  });

const RemoveSchema = z
  .object({
    named: headerName.optional().describe('The header to remove, by name.'),
    matching: nameRegex.optional().describe('Remove every header whose name matches this regular expression (case-insensitive).'),
  })
  .strict()
  .superRefine((rule, ctx) => {
    if ((rule.named === undefined) === (rule.matching === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'give exactly one of named or matching' });
    }
  });

export const HeaderRuleSchema = z
  .object({
    propagate: PropagateSchema.optional(),
    insert: InsertSchema.optional(),
    remove: RemoveSchema.optional(),
  })
  .strict()
  .superRefine((rule, ctx) => {
    const kinds = Object.values(rule).filter((value) => value !== undefined).length;
    if (kinds !== 1) ctx.addIssue({ code: 'custom', message: 'each rule is exactly one of propagate, insert or remove' });
  });

export type HeaderRule = z.output<typeof HeaderRuleSchema>;

const rules = (what: string) => z.array(HeaderRuleSchema).default([]).describe(what);

/** Rules for both directions of one kind of call. */
export const HeaderRuleSetSchema = z
  .object({
    request: rules('Rules for the request sent upstream, applied in order (propagate from the client request, insert, remove).'),
    response: rules(
      "Rules for the client's response, applied in order to each upstream answer (propagate from the answer, insert, remove).",
    ),
  })
  .strict();

export type HeaderRuleSet = z.output<typeof HeaderRuleSetSchema>;

/** The `headers` section: rules for every subgraph (`all`), then each subgraph's own. */
export const HeadersConfigSchema = z
  .object({
    all: HeaderRuleSetSchema.prefault({}).describe("Rules applied to every subgraph call, before the subgraph's own."),
    subgraphs: z
      .record(z.string().min(1), HeaderRuleSetSchema)
      .default({})
      .describe('Rules of one subgraph, by subgraph name, applied after `headers.all`.'),
  })
  .strict()
  .prefault({})
  .describe("Header rules for subgraph calls, in Apollo Router's shape (see docs/headers.md).");

export type HeadersConfig = z.output<typeof HeadersConfigSchema>;
