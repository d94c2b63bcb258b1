/**
 * Convert @dal parameter values into what better-sqlite3 binds: booleans become 1/0, Dates
 * ISO-8601 text, undefined NULL, plain objects and arrays JSON text. Strings, numbers, bigints,
 * null and byte arrays pass as they are.
 *
 * Returns the input array itself when nothing needs converting, so the common case allocates nothing.
 *
 * ```ts
 * toSqliteParams([true, new Date(0), { a: 1 }]); // [1, '1970-01-01T00:00:00.000Z', '{"a":1}']
 * ```
 */
export function toSqliteParams(params: readonly unknown[]): readonly unknown[] {
  for (let i = 0; i < params.length; i++) {
    const value = params[i];
    const type = typeof value;
    if (type === 'string' || type === 'number' || type === 'bigint' || value === null) continue;
    if (type === 'object' && value instanceof Uint8Array) continue;
    return convertFrom(params, i);
  }
  return params;
}

function convertFrom(params: readonly unknown[], start: number): unknown[] {
  const out = params.slice();
  for (let i = start; i < out.length; i++) out[i] = convertOne(out[i]);
  return out;
}

function convertOne(value: unknown): unknown {
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'bigint':
      return value;
    case 'boolean':
      return value ? 1 : 0;
    case 'undefined':
      return null;
    case 'object':
      if (value === null || value instanceof Uint8Array) return value;
      if (value instanceof Date) return value.toISOString();
      return JSON.stringify(value);
    default:
      // Functions and symbols are left for better-sqlite3 to reject with its own TypeError.
      return value;
  }
}
