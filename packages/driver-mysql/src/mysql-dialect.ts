import { mysqlReplication } from './mysql-replication.js';
import { TransactionError, type Dialect, type IsolationLevel } from '@dal/core';
import { mapMysqlError } from './map-error.js';
import { classifyMysqlSchemaError, mysqlSchemaSql } from './mysql-schema-sql.js';

const ISOLATION_SQL: Readonly<Record<IsolationLevel, string>> = {
  'read uncommitted': 'SET TRANSACTION ISOLATION LEVEL READ UNCOMMITTED',
  'read committed': 'SET TRANSACTION ISOLATION LEVEL READ COMMITTED',
  'repeatable read': 'SET TRANSACTION ISOLATION LEVEL REPEATABLE READ',
  serializable: 'SET TRANSACTION ISOLATION LEVEL SERIALIZABLE',
};

const BEGIN: readonly string[] = Object.freeze(['START TRANSACTION']);
const BEGIN_WITH_LEVEL = new Map<string, readonly string[]>(
  Object.entries(ISOLATION_SQL).map(([level, sql]) => [level, Object.freeze([sql, 'START TRANSACTION'])]),
);

/** Quote one identifier for MySQL: wrapped in backticks, inner backticks doubled. */
export function quoteMysqlIdentifier(name: string): string {
  return '`' + name.replace(/`/g, '``') + '`';
}

/**
 * The MySQL / MariaDB dialect: backtick quoting, `START TRANSACTION` (preceded by
 * `SET TRANSACTION ISOLATION LEVEL ...` for the next transaction when a level is given),
 * savepoints, and errno-based error mapping.
 *
 * ```ts
 * mysqlDialect.quoteIdentifier('my`col'); // '`my``col`'
 * mysqlDialect.beginTransactionSql('serializable');
 * // ['SET TRANSACTION ISOLATION LEVEL SERIALIZABLE', 'START TRANSACTION']
 * ```
 * @throws {TransactionError} from `beginTransactionSql` for an unknown isolation level.
 */
export const mysqlDialect: Dialect = Object.freeze({
  name: 'mysql',
  translateTarget: 'mysql',
  quoteIdentifier: quoteMysqlIdentifier,
  beginTransactionSql(isolationLevel?: IsolationLevel): readonly string[] {
    if (isolationLevel === undefined) return BEGIN;
    const statements = BEGIN_WITH_LEVEL.get(isolationLevel);
    if (statements === undefined) throw new TransactionError(`unknown isolation level "${String(isolationLevel)}"`);
    return statements;
  },
  savepointSql: (name: string) => `SAVEPOINT ${quoteMysqlIdentifier(name)}`,
  releaseSavepointSql: (name: string) => `RELEASE SAVEPOINT ${quoteMysqlIdentifier(name)}`,
  rollbackToSavepointSql: (name: string) => `ROLLBACK TO SAVEPOINT ${quoteMysqlIdentifier(name)}`,
  mapError: (error: unknown, context: { alias: string; sql?: string }) => mapMysqlError(error, context),
  connectionLimitsSql:
    "SELECT @@max_connections AS max_connections, (SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE COMMAND <> 'Daemon') AS current_connections",
  schemaSql: mysqlSchemaSql,
  classifySchemaError: classifyMysqlSchemaError,
  replication: mysqlReplication,
});
