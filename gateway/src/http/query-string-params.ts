import { GatewayError } from '../errors.js';
import type { OperationParams } from '../persisted/documents.js';

/**
 * A GET request's operation parameters, with the JSON-encoded ones named in `decode` parsed into
 * objects. The plain GraphQL route decodes `extensions` only (the resolver reads it; Apollo parses
 * `variables` from the query string it is handed); a streamed subscription hands its parameters to
 * Apollo's `executeOperation`, which takes `variables` as an object, so it decodes both.
 */
export function queryStringParams(query: unknown, decode: readonly ('extensions' | 'variables')[] = ['extensions']): OperationParams {
  const params = { ...(query as Record<string, unknown> | undefined) };
  for (const name of decode) {
    const value = params[name];
    if (typeof value !== 'string' || value === '') continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(value) as unknown;
    } catch {
      parsed = undefined;
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new GatewayError('BAD_REQUEST', `\`${name}\` in the query string must be a JSON-encoded object.`);
    }
    params[name] = parsed;
  }
  return params;
}
