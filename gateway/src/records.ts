/** Whether a value is an object with keys (not null, not an array): a JSON object, a parsed body's record. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
