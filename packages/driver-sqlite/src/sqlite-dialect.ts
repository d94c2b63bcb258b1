import type { Dialect, IsolationLevel } from '@dal/core';
import { mapSqliteError } from './map-error.js';
import { classifySqliteSchemaError, sqliteSchemaSql } from './sqlite-schema-sql.js';

const BEGIN: readonly string[] = Object.freeze(['BEGIN IMMEDIATE']);

/** Quote one identifier for SQLite: wrapped in `"`, inner `"` doubled. */
export function quoteSqliteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * The SQLite dialect: `"ident"` quoting, `BEGIN IMMEDIATE` transactions, savepoints, and error
 * mapping by extended result code.
 *
 * SQLite transactions are always serializable, so every isolation level maps to the same
 * `BEGIN IMMEDIATE`; taking the write lock up front avoids the deferred-lock upgrade that makes
 * two pooled connections fail with SQLITE_BUSY.
 *
 * ```ts
 * sqliteDialect.quoteIdentifier('order'); // '"order"'
 * sqliteDialect.beginTransactionSql('read committed'); // ['BEGIN IMMEDIATE']
 * ```
 */
export const sqliteDialect: Dialect = Object.freeze({
  name: 'sqlite',
  translateTarget: 'sqlite',
  quoteIdentifier: quoteSqliteIdentifier,
  beginTransactionSql(_isolationLevel?: IsolationLevel): readonly string[] {
    return BEGIN;
  },
  savepointSql: (name: string) => `SAVEPOINT ${quoteSqliteIdentifier(name)}`,
  releaseSavepointSql: (name: string) => `RELEASE SAVEPOINT ${quoteSqliteIdentifier(name)}`,
  rollbackToSavepointSql: (name: string) => `ROLLBACK TO SAVEPOINT ${quoteSqliteIdentifier(name)}`,
  mapError: mapSqliteError,
  schemaSql: sqliteSchemaSql,
  classifySchemaError: classifySqliteSchemaError,
});
