import { postgresReplication } from './postgres-replication.js';
import { TransactionError, type Dialect, type IsolationLevel } from '@dal/core';
import { mapPostgresError } from './map-error.js';
import { classifyPostgresSchemaError, postgresSchemaSql } from './postgres-schema-sql.js';

const BEGIN: readonly string[] = Object.freeze(['BEGIN']);

/** One frozen statement list per level, so beginning a transaction allocates nothing. */
const BEGIN_WITH_LEVEL: Readonly<Record<IsolationLevel, readonly string[]>> = {
  'read uncommitted': Object.freeze(['BEGIN ISOLATION LEVEL READ UNCOMMITTED']),
  'read committed': Object.freeze(['BEGIN ISOLATION LEVEL READ COMMITTED']),
  'repeatable read': Object.freeze(['BEGIN ISOLATION LEVEL REPEATABLE READ']),
  serializable: Object.freeze(['BEGIN ISOLATION LEVEL SERIALIZABLE']),
};

/**
 * Quote one identifier for PostgreSQL: wrapped in `"`, inner `"` doubled.
 *
 * ```ts
 * quotePostgresIdentifier('my "col"'); // '"my ""col"""'
 * ```
 */
export function quotePostgresIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * The PostgreSQL dialect: `"ident"` quoting, `BEGIN [ISOLATION LEVEL ...]`, savepoints and
 * SQLSTATE-based error mapping.
 *
 * ```ts
 * postgresDialect.beginTransactionSql('serializable'); // ['BEGIN ISOLATION LEVEL SERIALIZABLE']
 * ```
 */
export const postgresDialect: Dialect = Object.freeze({
  name: 'postgres',
  translateTarget: 'postgres',
  quoteIdentifier: quotePostgresIdentifier,
  /** @throws {TransactionError} for an isolation level PostgreSQL does not know. */
  beginTransactionSql(isolationLevel?: IsolationLevel): readonly string[] {
    if (isolationLevel === undefined) return BEGIN;
    const statements = Object.hasOwn(BEGIN_WITH_LEVEL, isolationLevel) ? BEGIN_WITH_LEVEL[isolationLevel] : undefined;
    if (statements === undefined) throw new TransactionError(`unknown isolation level "${String(isolationLevel)}"`);
    return statements;
  },
  savepointSql: (name: string): string => `SAVEPOINT ${quotePostgresIdentifier(name)}`,
  releaseSavepointSql: (name: string): string => `RELEASE SAVEPOINT ${quotePostgresIdentifier(name)}`,
  rollbackToSavepointSql: (name: string): string => `ROLLBACK TO SAVEPOINT ${quotePostgresIdentifier(name)}`,
  mapError: (error: unknown, context: { alias: string; sql?: string }) => mapPostgresError(error, context),
  connectionLimitsSql:
    "SELECT current_setting('max_connections')::int AS max_connections, (SELECT count(*)::int FROM pg_stat_activity WHERE backend_type = 'client backend') AS current_connections",
  schemaSql: postgresSchemaSql,
  classifySchemaError: classifyPostgresSchemaError,
  replication: postgresReplication,
});
