import { z } from 'zod';
import { durationMs, durationOrZeroMs, positiveInt } from '../config-kit.js';

/** The `auth` section: JWT issuers, API keys, and the headers that carry the caller to subgraphs. */

/** JWS algorithms an issuer may allow. `none` is not one of them, whatever the config says. */
export const JWT_ALGORITHMS = [
  'HS256',
  'HS384',
  'HS512',
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
] as const;

export const IssuerConfigSchema = z
  .object({
    issuer: z.string().min(1).describe('Expected `iss` claim; a token is matched to its issuer entry by this value.'),
    audience: z
      .union([z.string().min(1), z.array(z.string().min(1)).min(1)])
      .optional()
      .describe('Expected `aud` (one of). Unset: `aud` is not checked.'),
    algorithms: z
      .array(z.enum(JWT_ALGORITHMS))
      .min(1)
      .describe('Allow-list of `alg` values for this issuer; anything else is refused (no `none`, no HS/RS confusion).'),
    secret: z.string().min(32, 'an HMAC secret must be at least 32 characters').optional().describe('HMAC secret (HS*).'),
    secretEnv: z.string().min(1).optional().describe('Name of an environment variable holding the HMAC secret.'),
    publicKey: z.string().min(1).optional().describe('Public key in PEM (SPKI) form.'),
    jwk: z.record(z.string(), z.unknown()).optional().describe('Public key as a JWK object.'),
    jwksUrl: z.url().optional().describe('JWKS URL; keys are cached, refreshed in the background and refetched on an unknown `kid`.'),
    jwks: z
      .object({
        cacheMaxAgeMs: durationMs.default(600_000).describe('Keys older than this are refetched before use.'),
        cooldownMs: durationOrZeroMs.default(30_000).describe('At most one refetch per this interval, however many unknown `kid`s arrive.'),
        timeoutMs: durationMs.default(5_000).describe('Timeout of one JWKS request.'),
        refreshIntervalMs: durationMs.default(300_000).describe('Background refresh interval.'),
      })
      .strict()
      .prefault({}),
    clockToleranceSec: z.number().int().min(0).max(600).default(30).describe('Clock skew allowed on `exp` and `nbf`.'),
    requireExp: z.boolean().default(true).describe('Refuse tokens without `exp`.'),
    claims: z
      .object({
        id: z.string().min(1).default('sub').describe('Claim holding the principal id.'),
        tier: z.string().min(1).default('tier').describe('Claim holding the tier.'),
        scopes: z
          .array(z.string().min(1))
          .min(1)
          .default(['scope', 'scp', 'permissions'])
          .describe('Claims holding scopes, first present wins: a space-separated string or an array of strings.'),
      })
      .strict()
      .prefault({}),
    defaultTier: z.string().min(1).default('free').describe('Tier of a token without the tier claim.'),
  })
  .strict()
  .superRefine((issuer, ctx) => {
    const sources = (['secret', 'secretEnv', 'publicKey', 'jwk', 'jwksUrl'] as const).filter((k) => issuer[k] !== undefined);
    if (sources.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        message: `give exactly one key source (secret, secretEnv, publicKey, jwk or jwksUrl), got ${sources.length}`,
      });
      return;
    }
    const hmac = issuer.secret !== undefined || issuer.secretEnv !== undefined;
    const bad = issuer.algorithms.filter((alg) => alg.startsWith('HS') !== hmac);
    if (bad.length) {
      ctx.addIssue({
        code: 'custom',
        path: ['algorithms'],
        message: `${bad.join(', ')} cannot be used with ${hmac ? 'an HMAC secret' : 'a public key'} (HS* needs a secret, the others a public key)`,
      });
    }
  });

export type IssuerConfig = z.output<typeof IssuerConfigSchema>;

export const AuthConfigSchema = z
  .object({
    required: z.boolean().default(false).describe('Refuse requests without a credential (401). Off: they are anonymous.'),
    maxTokenBytes: positiveInt.default(8_192).describe('Longer bearer tokens are refused before any parsing.'),
    realm: z.string().min(1).default('gateway').describe('Realm in `WWW-Authenticate` challenges.'),
    jwt: z
      .object({
        issuers: z.array(IssuerConfigSchema).default([]).describe('Accepted token issuers (see the Authentication section).'),
        cacheMaxEntries: z
          .number()
          .int()
          .nonnegative()
          .default(10_000)
          .describe('Verified tokens remembered (by SHA-256), so a repeated token skips the signature check; 0 turns it off.'),
        cacheMaxAgeSec: z
          .number()
          .int()
          .nonnegative()
          .default(60)
          .describe('Longest a verification is trusted before the signature is checked again (also bounds how long a retired key works).'),
      })
      .strict()
      .prefault({}),
    apiKeys: z
      .object({
        enabled: z.boolean().default(true).describe('Accept API keys.'),
        header: z.string().min(1).default('x-api-key').describe('Header that carries an API key.'),
        file: z.string().min(1).default('.data/api-keys.json').describe('Key store file when no Redis is configured (hashes only).'),
      })
      .strict()
      .prefault({}),
    propagation: z
      .object({
        idHeader: z.string().min(1).default('x-user-id').describe('Header carrying the principal id to subgraphs.'),
        tierHeader: z.string().min(1).default('x-user-tier').describe('Header carrying the tier to subgraphs.'),
        scopesHeader: z.string().min(1).default('x-user-scopes').describe('Header carrying the space-separated scopes to subgraphs.'),
        kindHeader: z
          .string()
          .min(1)
          .default('x-auth-kind')
          .describe('Header carrying how the caller authenticated: `user`, `api_key` or `anonymous`.'),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .prefault({});

export type AuthConfig = z.output<typeof AuthConfigSchema>;
