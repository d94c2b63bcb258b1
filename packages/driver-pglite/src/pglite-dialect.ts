import { TransactionError, type Dialect, type IsolationLevel } from '@dal/core';
import { mapPgliteError } from './map-error.js';
import { classifyPgliteSchemaError, pgliteSchemaSql } from './pglite-schema-sql.js';

const LEVELS: ReadonlySet<string> = new Set(['read uncommitted', 'read committed', 'repeatable read', 'serializable']);

/** Quote one identifier: wrapped in `"`, inner `"` doubled. */
export function quotePgliteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * PGlite speaks PostgreSQL: `"ident"` quoting, `$n` placeholders (@dal/sql-translate's
 * 'postgres' rules), `BEGIN [ISOLATION LEVEL ...]`, savepoints and SQLSTATE error mapping.
 */
export const pgliteDialect: Dialect = Object.freeze({
  name: 'pglite',
  translateTarget: 'postgres',
  quoteIdentifier: quotePgliteIdentifier,
  /** @throws {TransactionError} for an unknown isolation level. */
  beginTransactionSql(isolationLevel?: IsolationLevel): readonly string[] {
    if (isolationLevel === undefined) return ['BEGIN'];
    if (!LEVELS.has(isolationLevel)) throw new TransactionError(`unknown isolation level "${String(isolationLevel)}"`);
    return [`BEGIN ISOLATION LEVEL ${isolationLevel.toUpperCase()}`];
  },
  savepointSql: (name: string) => `SAVEPOINT ${quotePgliteIdentifier(name)}`,
  releaseSavepointSql: (name: string) => `RELEASE SAVEPOINT ${quotePgliteIdentifier(name)}`,
  rollbackToSavepointSql: (name: string) => `ROLLBACK TO SAVEPOINT ${quotePgliteIdentifier(name)}`,
  mapError: mapPgliteError,
  schemaSql: pgliteSchemaSql,
  classifySchemaError: classifyPgliteSchemaError,
});
