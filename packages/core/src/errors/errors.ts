/**
 * Every error class core throws. The base (`DalError`), `TimeoutError`, `AbortedError` and
 * `CircuitOpenError` come from @dal/resilience and are re-exported, so there is one class of
 * each whichever package threw it.
 */
import { DalError, TimeoutError, type DalErrorCode, type DalErrorOptions } from '@dal/resilience';

/** A setting is invalid (negative timeout, poolMin > poolMax, unknown URL scheme, ...). */
export class ConfigError extends DalError {
  override readonly name: string = 'ConfigError';
  readonly code: DalErrorCode = 'DAL_CONFIG';
}

/** The backend's driver package is not installed; the message names the package to install. */
export class DriverNotInstalledError extends DalError {
  override readonly name: string = 'DriverNotInstalledError';
  readonly code: DalErrorCode = 'DAL_DRIVER_NOT_INSTALLED';
  constructor(message: string, readonly packageName: string, options: DalErrorOptions = {}) {
    super(message, options);
  }
}

/** Could not reach the server, or the connection broke. Retryable. */
export class ConnectionError extends DalError {
  override readonly name: string = 'ConnectionError';
  readonly code: DalErrorCode = 'DAL_CONNECTION';
  readonly host?: string;
  constructor(message: string, options: DalErrorOptions & { host?: string } = {}) {
    super(message, { retryable: true, ...options });
    if (options.host !== undefined) this.host = options.host;
  }
}

/** No pooled connection became free within `connectionAcquisitionTimeoutMs`. */
export class PoolTimeoutError extends TimeoutError {
  override readonly name: string = 'PoolTimeoutError';
  override readonly code: DalErrorCode = 'DAL_POOL_TIMEOUT';
  constructor(message: string, readonly waitedMs: number, readonly poolSize: number, options: DalErrorOptions = {}) {
    super(message, waitedMs, { retryable: true, ...options });
  }
}

/** The pool (or database) was closed. */
export class PoolClosedError extends DalError {
  override readonly name: string = 'PoolClosedError';
  readonly code: DalErrorCode = 'DAL_POOL_CLOSED';
}

/** A statement ran past its timeout; it was cancelled on the server. */
export class QueryTimeoutError extends TimeoutError {
  override readonly name: string = 'QueryTimeoutError';
  override readonly code: DalErrorCode = 'DAL_QUERY_TIMEOUT';
  constructor(message: string, timeoutMs: number, readonly sql?: string, options: DalErrorOptions = {}) {
    super(message, timeoutMs, options);
  }
}

export interface QueryErrorDetails extends DalErrorOptions {
  /** Dialect that raised it ('postgres', 'mysql', 'sqlite', ...). */
  dialect: string;
  /** SQLSTATE where the server gives one (PostgreSQL, MySQL). */
  sqlState?: string;
  /** Vendor code: PostgreSQL SQLSTATE, MySQL errno (as string), SQLite extended code name. */
  vendorCode?: string | number;
  /** The native SQL that failed; parameter values are never included. */
  sql?: string;
  constraint?: string;
  table?: string;
  column?: string;
}

/** The server rejected a statement (syntax, constraint, permission, ...). */
export class QueryError extends DalError {
  override readonly name: string = 'QueryError';
  readonly code: DalErrorCode = 'DAL_QUERY';
  readonly dialect: string;
  readonly sqlState?: string;
  readonly vendorCode?: string | number;
  readonly sql?: string;
  readonly constraint?: string;
  readonly table?: string;
  readonly column?: string;
  constructor(message: string, details: QueryErrorDetails) {
    super(message, details);
    this.dialect = details.dialect;
    for (const key of ['sqlState', 'vendorCode', 'sql', 'constraint', 'table', 'column'] as const) {
      if (details[key] !== undefined) (this as Record<string, unknown>)[key] = details[key];
    }
  }
}

export class UniqueViolationError extends QueryError {
  override readonly name: string = 'UniqueViolationError';
  override readonly code: DalErrorCode = 'DAL_UNIQUE_VIOLATION';
}
export class ForeignKeyViolationError extends QueryError {
  override readonly name: string = 'ForeignKeyViolationError';
  override readonly code: DalErrorCode = 'DAL_FOREIGN_KEY_VIOLATION';
}
export class NotNullViolationError extends QueryError {
  override readonly name: string = 'NotNullViolationError';
  override readonly code: DalErrorCode = 'DAL_NOT_NULL_VIOLATION';
}
export class CheckViolationError extends QueryError {
  override readonly name: string = 'CheckViolationError';
  override readonly code: DalErrorCode = 'DAL_CHECK_VIOLATION';
}
/** The server chose this transaction as a deadlock victim. Retry the whole transaction. */
export class DeadlockError extends QueryError {
  override readonly name: string = 'DeadlockError';
  override readonly code: DalErrorCode = 'DAL_DEADLOCK';
  constructor(message: string, details: QueryErrorDetails) {
    super(message, { retryable: true, ...details });
  }
}
/** A serializable transaction could not be serialized. Retry the whole transaction. */
export class SerializationFailureError extends QueryError {
  override readonly name: string = 'SerializationFailureError';
  override readonly code: DalErrorCode = 'DAL_SERIALIZATION_FAILURE';
  constructor(message: string, details: QueryErrorDetails) {
    super(message, { retryable: true, ...details });
  }
}

/**
 * The server refused a prepared statement because DDL in another session changed what it was
 * prepared for (PostgreSQL "cached plan must not change result type", MySQL "prepared statement
 * needs to be re-prepared"). It did not run. Core runs it again, re-prepared, once outside a
 * transaction; inside one it aborted the transaction, which `transaction(fn, { retry })` re-runs.
 */
export class StaleStatementError extends QueryError {
  override readonly name: string = 'StaleStatementError';
  override readonly code: DalErrorCode = 'DAL_STALE_STATEMENT';
  constructor(message: string, details: QueryErrorDetails) {
    super(message, { retryable: true, ...details });
  }
}

/** Misuse of transactions (commit without begin, ...) or a failed COMMIT/ROLLBACK. */
export class TransactionError extends DalError {
  override readonly name: string = 'TransactionError';
  readonly code: DalErrorCode = 'DAL_TRANSACTION';
}

/** The connection was used after `release()`. */
export class ConnectionReleasedError extends DalError {
  override readonly name: string = 'ConnectionReleasedError';
  readonly code: DalErrorCode = 'DAL_CONNECTION_RELEASED';
}

/** The backend cannot do this (e.g. a synchronous PostgreSQL connection). */
export class UnsupportedFeatureError extends DalError {
  override readonly name: string = 'UnsupportedFeatureError';
  readonly code: DalErrorCode = 'DAL_UNSUPPORTED';
  constructor(message: string, readonly feature: string, readonly dialect?: string) {
    super(message);
  }
}

/** Invalid use of @dal/entities (bad name, unknown version, unserialisable value, ...). */
export class EntityError extends DalError {
  override readonly name: string = 'EntityError';
  readonly code: DalErrorCode = 'DAL_ENTITY';
}
