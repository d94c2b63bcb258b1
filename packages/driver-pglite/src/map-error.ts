import {
  CheckViolationError,
  ConnectionError,
  DalError,
  DeadlockError,
  ForeignKeyViolationError,
  NotNullViolationError,
  QueryError,
  SerializationFailureError,
  StaleStatementError,
  UniqueViolationError,
  type QueryErrorDetails,
} from '@dal/core';

/** The fields of PGlite's `DatabaseError` (the server's ErrorResponse) this mapping reads. */
interface PgliteDatabaseError {
  readonly message: string;
  readonly code: string;
  readonly severity: string;
  readonly constraint?: string;
  readonly table?: string;
  readonly column?: string;
}

type QueryErrorClass = new (message: string, details: QueryErrorDetails) => QueryError;

/** SQLSTATEs with a class of their own; everything else is a plain `QueryError`. */
const QUERY_ERROR_CLASSES: Readonly<Record<string, QueryErrorClass>> = {
  '23505': UniqueViolationError,
  '23503': ForeignKeyViolationError,
  '23502': NotNullViolationError,
  '23514': CheckViolationError,
  '40P01': DeadlockError,
  '40001': SerializationFailureError,
  '26000': StaleStatementError, // prepared statement gone: it did not run
};

function isDatabaseError(error: unknown): error is PgliteDatabaseError {
  const e = error as Partial<PgliteDatabaseError> | null;
  return typeof e === 'object' && e !== null && typeof e.code === 'string' && typeof e.severity === 'string';
}

/**
 * Turn an error raised by PGlite into the matching DalError; the native error stays as `cause`.
 * Data exceptions (class 22) quote the offending input, which may be a parameter value: it is
 * dropped from the message. A closed instance is a `ConnectionError` (core then replaces the connection).
 *
 * ```ts
 * try { await pg.query(sql, params); } catch (e) { throw mapPgliteError(e, { alias: 'main', sql }); }
 * ```
 */
export function mapPgliteError(error: unknown, context: { alias: string; sql?: string }): DalError {
  if (DalError.isInstance(error)) return error;
  if (isDatabaseError(error)) {
    const sqlState = error.code;
    const details: QueryErrorDetails = { dialect: 'pglite', sqlState, vendorCode: sqlState, cause: error };
    if (context.sql !== undefined) details.sql = context.sql;
    if (error.constraint !== undefined) details.constraint = error.constraint;
    if (error.table !== undefined) details.table = error.table;
    if (error.column !== undefined) details.column = error.column;
    const stale = sqlState === '0A000' && error.message.includes('cached plan must not change result type');
    const ErrorClass = (stale ? StaleStatementError : QUERY_ERROR_CLASSES[sqlState]) ?? QueryError;
    const message = sqlState.startsWith('22') ? error.message.replace(/: ".*"$/s, ': (value redacted)') : error.message;
    return new ErrorClass(`${context.alias}: ${message}`, details);
  }
  const native = error instanceof Error ? error : new Error(String(error));
  if (/closed/i.test(native.message)) return new ConnectionError(`${context.alias}: the PGlite instance is closed`, { cause: error, retryable: true });
  const details: QueryErrorDetails = { dialect: 'pglite', cause: error };
  if (context.sql !== undefined) details.sql = context.sql;
  return new QueryError(`${context.alias}: ${native.message}`, details);
}
