import type { DalError, IndexSpec, SchemaErrorKind, SchemaSql, StoredKind } from '@dal/core';
import { quotePgliteIdentifier as quote } from './pglite-dialect.js';

const TYPES: Readonly<Record<StoredKind, string>> = { text: 'TEXT', double: 'DOUBLE PRECISION', bigint: 'BIGINT', boolean: 'BOOLEAN', timestamp: 'TIMESTAMPTZ' };

/**
 * What @dal/entities needs to know about PGlite's SQL where the SQL-standard default does not fit.
 * PGlite has a single session, so no DDL lock or lock timeout is needed: nothing else can hold a lock.
 */
export const pgliteSchemaSql: Partial<SchemaSql> = Object.freeze({
  errorAbortsTransaction: true,
  dataModifyingCte: true,
  upsertReturning: true,
  maxParams: 65_535,
  columnTypes: TYPES,
  timestampColumn: 'TIMESTAMPTZ',
  // IF [NOT] EXISTS: an error would abort the transaction, so existing objects cannot be tolerated.
  addColumn: (table: string, column: string, columnType: string) => `ALTER TABLE ${quote(table)} ADD COLUMN IF NOT EXISTS ${quote(column)} ${columnType}`,
  createIndex: (table: string, index: IndexSpec) =>
    `CREATE ${index.unique ? 'UNIQUE ' : ''}INDEX IF NOT EXISTS ${quote(index.name)} ON ${quote(table)} (${index.columns.map(quote).join(', ')})`,
  dropIndex: (_table: string, name: string) => `DROP INDEX IF EXISTS ${quote(name)}`,
  dropColumn: (table: string, column: string) => `ALTER TABLE ${quote(table)} DROP COLUMN IF EXISTS ${quote(column)}`,
  indexesOf: (table: string) => ({ sql: 'SELECT indexname AS name FROM pg_indexes WHERE schemaname = current_schema() AND tablename = ?', params: [table] }),
  changeColumn(table: string, column: string, from: StoredKind, to: StoredKind): string[] {
    if (TYPES[from] === TYPES[to]) return [];
    const c = quote(column);
    // Dates become ISO-8601 UTC text, whatever the session's TimeZone.
    const using = from === 'timestamp' && to === 'text' ? `to_char(${c} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')` : `${c}::${TYPES[to]}`;
    return [`ALTER TABLE ${quote(table)} ALTER COLUMN ${c} TYPE ${TYPES[to]} USING ${using}`];
  },
  upsertTail(table: string, updates: readonly string[], mergeJson: string | undefined): string {
    const sets = updates.map((c) => `${quote(c)} = EXCLUDED.${quote(c)}`);
    if (mergeJson !== undefined) {
      const m = quote(mergeJson);
      sets.push(`${m} = (COALESCE(${quote(table)}.${m}, '{}')::jsonb || COALESCE(EXCLUDED.${m}, '{}')::jsonb)::text`);
    }
    return ` ON CONFLICT (${quote('id')}) DO UPDATE SET ${sets.join(', ')}`;
  },
});

const KINDS: Readonly<Record<string, SchemaErrorKind>> = {
  '42P01': 'missing-object', // undefined_table
  '42703': 'missing-object', // undefined_column
  '42P07': 'duplicate-object', // duplicate_table
  '42701': 'duplicate-object', // duplicate_column
  '55P03': 'lock-timeout', // lock_not_available
};

/** PGlite's schema errors, by PostgreSQL SQLSTATE (see `SchemaErrorKind`). */
export function classifyPgliteSchemaError(error: DalError): SchemaErrorKind | undefined {
  const sqlState = (error as { sqlState?: string }).sqlState;
  return sqlState === undefined ? undefined : KINDS[sqlState];
}
