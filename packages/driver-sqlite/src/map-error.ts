import {
  CheckViolationError,
  ConnectionError,
  DalError,
  ForeignKeyViolationError,
  NotNullViolationError,
  QueryError,
  SerializationFailureError,
  UniqueViolationError,
  type QueryErrorDetails,
} from '@dal/core';

/** What better-sqlite3 reports in a constraint message: "UNIQUE constraint failed: users.email". */
const CONSTRAINT_TARGET = /constraint failed: (.+)$/;

/**
 * Turn a better-sqlite3 error (or its copy rebuilt from a worker) into a DalError, keyed on the
 * extended result code (`SQLITE_CONSTRAINT_UNIQUE`, `SQLITE_BUSY`, ...). The native error stays as
 * `cause`; DalErrors pass through unchanged.
 *
 * ```ts
 * try { db.prepare(sql).run(); } catch (e) { throw mapSqliteError(e, { alias: 'main', sql }); }
 * ```
 */
export function mapSqliteError(error: unknown, context: { alias: string; sql?: string }): DalError {
  if (DalError.isInstance(error)) return error;
  const nativeCode = (error as { code?: unknown } | null)?.code;
  const code = typeof nativeCode === 'string' ? nativeCode : undefined;
  const serverMessage = error instanceof Error ? error.message : String(error);
  const message = `${context.alias}: ${serverMessage}`;
  const details: QueryErrorDetails = { dialect: 'sqlite', vendorCode: code, sql: context.sql, cause: error };

  if (code === undefined) {
    // better-sqlite3's own errors carry no code: a closed handle, a missing directory, bad bindings.
    if (serverMessage.includes('connection is not open')) return new ConnectionError(message, { cause: error });
    if (serverMessage.includes('directory does not exist')) return new ConnectionError(message, { cause: error, retryable: false });
    return new QueryError(message, details);
  }
  switch (code) {
    case 'SQLITE_CONSTRAINT_UNIQUE':
    case 'SQLITE_CONSTRAINT_PRIMARYKEY':
      return new UniqueViolationError(message, { ...details, ...columnTarget(serverMessage) });
    case 'SQLITE_CONSTRAINT_NOTNULL':
      return new NotNullViolationError(message, { ...details, ...columnTarget(serverMessage) });
    case 'SQLITE_CONSTRAINT_FOREIGNKEY':
      return new ForeignKeyViolationError(message, details);
    case 'SQLITE_CONSTRAINT_CHECK': {
      const constraint = CONSTRAINT_TARGET.exec(serverMessage)?.[1];
      return new CheckViolationError(message, constraint === undefined ? details : { ...details, constraint });
    }
    case 'SQLITE_BUSY_SNAPSHOT':
      // A WAL reader's snapshot went stale before it could write: the transaction must restart.
      return new SerializationFailureError(message, details);
    case 'SQLITE_NOTADB':
      return new ConnectionError(message, { cause: error, retryable: false });
    default:
      if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) return new QueryError(message, { ...details, retryable: true });
      if (code.startsWith('SQLITE_CANTOPEN')) return new ConnectionError(message, { cause: error, retryable: false });
      return new QueryError(message, details);
  }
}

/** table/column from "... constraint failed: t.a" (column only when a single one is named). */
function columnTarget(message: string): { table?: string; column?: string } {
  const target = CONSTRAINT_TARGET.exec(message)?.[1];
  if (target === undefined) return {};
  const first = target.split(', ')[0] as string;
  const dot = first.lastIndexOf('.');
  if (dot < 0) return {};
  const table = first.slice(0, dot);
  return target.includes(', ') ? { table } : { table, column: first.slice(dot + 1) };
}

/**
 * A failure to open a database as a ConnectionError naming the alias and the file. Retryable only
 * when SQLite says the file was busy; a missing directory or a file that is not a database is not.
 */
export function mapSqliteConnectError(error: unknown, alias: string, filename: string): DalError {
  if (DalError.isInstance(error)) return error;
  const mapped = mapSqliteError(error, { alias });
  const reason = error instanceof Error ? error.message : String(error);
  return new ConnectionError(`${alias}: cannot open SQLite database "${filename}": ${reason}`, {
    cause: error,
    retryable: mapped.retryable && !(mapped instanceof ConnectionError),
    host: filename,
  });
}
