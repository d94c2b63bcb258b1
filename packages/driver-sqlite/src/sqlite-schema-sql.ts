import type { DalError, IndexSpec, SchemaErrorKind, SchemaSql, StoredKind } from '@dal/core';
import { quoteSqliteIdentifier as quote } from './sqlite-dialect.js';

const DECLARED_TYPES: Readonly<Record<StoredKind, string>> = { text: 'TEXT', double: 'REAL', bigint: 'INTEGER', boolean: 'INTEGER', timestamp: 'TEXT' };

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
  // Declared fields get a type, hence an affinity: values are converted to it as they are stored.
  declaredColumn: (kind: StoredKind) => DECLARED_TYPES[kind],
  createIndex: (table: string, index: IndexSpec) =>
    `CREATE ${index.unique ? 'UNIQUE ' : ''}INDEX IF NOT EXISTS ${quote(index.name)} ON ${quote(table)} (${index.columns.map(quote).join(', ')})`,
  dropIndex: (_table: string, name: string) => `DROP INDEX IF EXISTS ${quote(name)}`,
  // SQLite changes a column's constraints or type only by rebuilding the table.
  setNotNull: () => undefined,
  columnsOf: (table: string) => ({ sql: 'SELECT name, CASE WHEN "notnull" = 0 THEN 1 ELSE 0 END AS nullable, type FROM pragma_table_info(?)', params: [table] }),
  indexesOf: (table: string) => ({ sql: 'SELECT name FROM pragma_index_list(?)', params: [table] }),
  changeColumn: () => [],
  upsertTail(_table: string, updates: readonly string[], mergeJson: string | undefined): string {
    const sets = updates.map((c) => `${quote(c)} = excluded.${quote(c)}`);
    if (mergeJson !== undefined) {
      const m = quote(mergeJson);
      sets.push(`${m} = json_patch(COALESCE(${m}, '{}'), COALESCE(excluded.${m}, '{}'))`);
    }
    return ` ON CONFLICT (${quote('id')}) DO UPDATE SET ${sets.join(', ')}`;
  },
  insertIgnore: (table: string, columns: readonly string[], values?: readonly string[]) =>
    `INSERT OR IGNORE INTO ${quote(table)} (${columns.map(quote).join(', ')}) VALUES (${(values ?? columns.map(() => '?')).join(', ')})`,
  tableExists: (table: string) => ({ sql: "SELECT COUNT(*) AS e FROM sqlite_master WHERE type = 'table' AND name = ?", params: [table] }),
  tables: () => ({ sql: "SELECT name FROM sqlite_master WHERE type = 'table'", params: [] }),
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
