import pg from 'pg';

const INT8_OID = 20;
const INT8_ARRAY_OID = 1016;
const NUMERIC_ARRAY_OID = 1231;
const TEXT_ARRAY_OID = 1009;

type TypeParser = (value: string) => unknown;

/** int8 as a number when it is exact, else as a bigint: never silently rounded. */
function parseInt8(text: string): number | bigint {
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : BigInt(text);
}

function mapNested(value: unknown, parse: TypeParser): unknown {
  if (Array.isArray(value)) return value.map((item) => mapNested(item, parse));
  return value === null ? null : parse(value as string);
}

const textArrayParser = (pg.types.getTypeParser as (oid: number, format: 'text') => TypeParser)(TEXT_ARRAY_OID, 'text');

function parseInt8Array(text: string): unknown {
  return mapNested(textArrayParser(text), parseInt8 as TypeParser);
}

/**
 * Per-client type parsers (pg's `types` option), leaving the global `pg.types` untouched:
 * int8 and int8[] follow the number-or-bigint rule, numeric[] stays exact (strings, like
 * numeric), everything else is pg's default.
 */
export const postgresTypeParsers: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (format !== 'binary') {
      if (oid === INT8_OID) return parseInt8;
      if (oid === INT8_ARRAY_OID) return parseInt8Array;
      if (oid === NUMERIC_ARRAY_OID) return textArrayParser;
    }
    return (pg.types.getTypeParser as (oid: number, format: 'text' | 'binary') => TypeParser)(oid, format ?? 'text');
  }) as pg.CustomTypesConfig['getTypeParser'],
};

/**
 * A JavaScript array sent as a PostgreSQL array literal (for `= ANY($1)`, `int[]` columns):
 * plain arrays are sent as JSON text, like on every @dal backend.
 *
 * ```ts
 * await conn.execute('SELECT * FROM [t] WHERE [id] = ANY(?)', [postgresArray([1, 2, 3])]);
 * ```
 */
export function postgresArray(values: readonly unknown[]): { toPostgres(prepare: (value: unknown) => unknown): unknown } {
  // pg calls toPostgres with its own value converter, which turns an array into '{...}'.
  return { toPostgres: (prepare) => prepare(values) };
}

function toJsonParams(params: readonly unknown[], first: number): unknown[] {
  const out = params.slice();
  for (let i = first; i < out.length; i++) {
    if (Array.isArray(out[i])) out[i] = JSON.stringify(out[i]);
  }
  return out;
}

/**
 * Parameters as pg should get them. pg already handles strings, numbers, bigint, booleans,
 * Dates, Buffers, null/undefined and objects (JSON); only arrays differ (JSON text here, not
 * a PostgreSQL array literal), so the common case returns the input without copying.
 */
export function preparePostgresParams(params: readonly unknown[]): unknown[] {
  for (let i = 0; i < params.length; i++) {
    if (Array.isArray(params[i])) return toJsonParams(params, i);
  }
  return params as unknown[];
}
