/** Why a credential was refused; logged and counted (`gateway_auth_total{result}`), never the credential itself. */
export type AuthFailureReason =
  | 'missing'
  | 'ambiguous'
  | 'bad_scheme'
  | 'too_large'
  | 'malformed'
  | 'algorithm'
  | 'unknown_issuer'
  | 'audience'
  | 'expired'
  | 'not_yet_valid'
  | 'signature'
  | 'unknown_key'
  | 'claims'
  | 'unknown_api_key'
  | 'revoked'
  | 'api_keys_disabled'
  | 'unavailable';

/** Client-facing description per reason (RFC 6750 `error_description`): says what is wrong, not how to forge it. */
const DESCRIPTIONS: Record<AuthFailureReason, string> = {
  missing: 'A credential is required: send `Authorization: Bearer <JWT>` or an API key.',
  ambiguous: 'Send one credential, not both a bearer token and an API key.',
  bad_scheme: 'The Authorization header must use the Bearer scheme.',
  too_large: 'The bearer token is too large.',
  malformed: 'The bearer token is malformed.',
  algorithm: 'The bearer token is signed with an algorithm this issuer does not allow.',
  unknown_issuer: 'The bearer token comes from an issuer this gateway does not trust.',
  audience: 'The bearer token is not meant for this audience.',
  expired: 'The bearer token has expired.',
  not_yet_valid: 'The bearer token is not valid yet.',
  signature: 'The bearer token signature is invalid.',
  unknown_key: 'The bearer token is signed with an unknown key.',
  claims: 'The bearer token claims are invalid.',
  unknown_api_key: 'The API key is invalid.',
  revoked: 'The API key has been revoked or has expired.',
  api_keys_disabled: 'API keys are not accepted by this gateway.',
  unavailable: 'The credential could not be checked right now; retry later.',
};

/** A refused credential. `unavailable` means the gateway could not check it (503), anything else is a 401. */
export class AuthFailure extends Error {
  override readonly name = 'AuthFailure';
  constructor(
    readonly reason: AuthFailureReason,
    /** Detail for the log only (never a token or key). */
    readonly detail?: string,
  ) {
    super(DESCRIPTIONS[reason]);
  }
}
