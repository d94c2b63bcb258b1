import type { DalError, SchemaErrorKind, SchemaSql, StoredKind } from '@dal/core';
import { quoteSqliteIdentifier as quote } from './sqlite-dialect.js';

/** The table SQL @dal/entities generates on SQLite, where the SQL-standard default does not fit (see `SchemaSql`). */
export const sqliteSchemaSql: Partial<SchemaSql> = Object.freeze({
  upsertReturning: true,
  maxParams: 32_766,
  // No declared type: no affinity, so every value keeps the storage class it was bound with.
  columnTypes: Object.freeze({ text: '', double: '', bigint: '', boolean: '', timestamp: '' }),
  idColumn: 'TEXT',
  textColumn: 'TEXT',
  timestampColumn: 'TEXT',
  // better-sqlite3 returns integers as doubles unless safeIntegers is set.
  inexactBigints: true,
  changeColumn: () => [],
  upsertTail(_table: string, updates: readonly string[], mergeJson: string | undefined): string {
    const sets = updates.map((c) => `${quote(c)} = excluded.${quote(c)}`);
    if (mergeJson !== undefined) {
      const m = quote(mergeJson);
      sets.push(`${m} = json_patch(COALESCE(${m}, '{}'), COALESCE(excluded.${m}, '{}'))`);
    }
    return ` ON CONFLICT (${quote('id')}) DO UPDATE SET ${sets.join(', ')}`;
  },
  insertIgnore: (table: string, columns: readonly string[]) =>
    `INSERT OR IGNORE INTO ${quote(table)} (${columns.map(quote).join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`,
  tableExists: (table: string) => ({ sql: "SELECT COUNT(*) AS e FROM sqlite_master WHERE type = 'table' AND name = ?", params: [table] }),
  limitOffset: (limit: number | undefined, offset: number | undefined) => {
    if (limit === undefined && offset === undefined) return '';
    return ` LIMIT ${limit ?? -1}${offset === undefined ? '' : ` OFFSET ${offset}`}`;
  },
  typedParam: () => '?',
});

/** SQLite's schema errors, which it reports as SQLITE_ERROR with a message (see `SchemaErrorKind`). */
export function classifySqliteSchemaError(error: DalError): SchemaErrorKind | undefined {
  if (error.code !== 'DAL_QUERY') return undefined;
  if (/no such (table|column)|has no column named/.test(error.message)) return 'missing-object';
  if (/duplicate column name|already exists/.test(error.message)) return 'duplicate-object';
  return undefined;
}
