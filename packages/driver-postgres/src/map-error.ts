import {
  CheckViolationError,
  ConnectionError,
  DalError,
  DeadlockError,
  describeTlsFailure,
  ForeignKeyViolationError,
  NotNullViolationError,
  QueryError,
  SerializationFailureError,
  StaleStatementError,
  UniqueViolationError,
  type QueryErrorDetails,
} from '@dal/core';
import { POOLER_ADVICE } from './pooler-guard.js';

/** Where an error happened, for the message and the mapping. */
export interface PostgresErrorContext {
  /** The database alias, first word of every message. */
  readonly alias: string;
  /** The native SQL that failed, kept on `QueryError.sql`. */
  readonly sql?: string;
  /** `host:port` (or socket path), named in connection error messages. */
  readonly host?: string;
  /** True while opening the connection: every failure then is a `ConnectionError`. */
  readonly connecting?: boolean;
}

/** The fields of pg's `DatabaseError` (from pg-protocol) this mapping reads. */
interface PgDatabaseErrorLike {
  readonly message: string;
  readonly code: string;
  readonly severity: string;
  readonly constraint?: string;
  readonly table?: string;
  readonly column?: string;
}

type QueryErrorClass = new (message: string, details: QueryErrorDetails) => QueryError;

const QUERY_ERROR_CLASSES: Readonly<Record<string, QueryErrorClass>> = {
  '23505': UniqueViolationError,
  '23503': ForeignKeyViolationError,
  '23502': NotNullViolationError,
  '23514': CheckViolationError,
  '40P01': DeadlockError,
  '40001': SerializationFailureError,
};

/**
 * A named prepared statement that DDL elsewhere invalidated ("cached plan must not change result
 * type", 0A000, which is otherwise "feature not supported") or that is gone (26000): it did not run.
 */
function isStaleStatement(sqlState: string, message: string): boolean {
  return sqlState === '26000' || (sqlState === '0A000' && message.includes('cached plan must not change result type'));
}

/** pg's error when the server answers an SSLRequest with 'N' (it has no TLS). */
export const NO_TLS_MESSAGE = 'The server does not support SSL connections';


/**
 * Failures that mean a transaction-mode pooler sits in front of a config without `pooler`:
 * PgBouncer refusing statement_timeout at startup (08P01), and our named prepared statements
 * meeting another client's (42P05) or missing on the session this transaction got (26000).
 */
function poolerHint(sqlState: string, message: string): string {
  const pooled =
    (sqlState === '08P01' && message.includes('unsupported startup parameter')) ||
    ((sqlState === '42P05' || sqlState === '26000') && /prepared statement "dal_\d+"/.test(message));
  return pooled ? ` (${POOLER_ADVICE})` : '';
}

/** SQLSTATEs meaning the session is gone or could not start, though trying again may work. */
const RETRYABLE_CONNECTION_STATES = new Set(['57P01', '57P02', '57P03', '57P05', '53300']);

/** Node socket error codes meaning the connection is gone. */
const SOCKET_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNABORTED',
]);

/** pg's own messages for a connection that ended or broke. */
const CONNECTION_MESSAGES = [
  'Connection terminated',
  'Client has encountered a connection error',
  'Client was closed and is not queryable',
  'timeout expired',
];

function isDatabaseError(error: unknown): error is PgDatabaseErrorLike {
  const e = error as Partial<PgDatabaseErrorLike> | null;
  return typeof e === 'object' && e !== null && typeof e.code === 'string' && typeof e.severity === 'string';
}

/** Authentication failures (class 28) and an unknown database: trying again cannot help. */
function isPermanentConnectFailure(sqlState: string): boolean {
  return sqlState.startsWith('28') || sqlState === '3D000';
}

/** Node's socket error code, also inside the AggregateError of a multi-address connect. */
function socketErrorCode(error: Error): string | undefined {
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  const first = (error as { errors?: unknown[] }).errors?.[0] as { code?: unknown } | undefined;
  return typeof first?.code === 'string' ? first.code : undefined;
}

/**
 * Data exceptions (class 22) quote the offending input, which may be a parameter value:
 * keep the server's wording and drop the quoted value.
 */
function serverMessage(error: PgDatabaseErrorLike): string {
  if (!error.code.startsWith('22')) return error.message;
  return error.message.replace(/: ".*"$/s, ': (value redacted)');
}

function connectionError(cause: unknown, reason: string, context: PostgresErrorContext, retryable: boolean): ConnectionError {
  const where = context.host === undefined ? context.alias : `${context.alias} (${context.host})`;
  const what = context.connecting ? 'could not connect' : 'connection lost';
  return new ConnectionError(`${where}: ${what}: ${reason}`, {
    cause,
    retryable,
    ...(context.host === undefined ? {} : { host: context.host }),
  });
}

/**
 * Turn an error raised by pg (a server `DatabaseError`, a Node socket error or pg's own
 * connection errors) into the matching DalError; the native error stays as `cause`.
 *
 * ```ts
 * try { await client.query(sql, params); } catch (e) { throw mapPostgresError(e, { alias: 'main', sql }); }
 * ```
 */
export function mapPostgresError(error: unknown, context: PostgresErrorContext): DalError {
  if (DalError.isInstance(error)) return error;

  if (isDatabaseError(error)) {
    const sqlState = error.code;
    if (context.connecting || sqlState.startsWith('08') || RETRYABLE_CONNECTION_STATES.has(sqlState) || isPermanentConnectFailure(sqlState)) {
      // pg_hba.conf refusing a plaintext session ends its message with "no encryption".
      const hint = /no encryption$/.test(error.message) ? ' (the server requires TLS: set tls.mode, e.g. verify-full)' : poolerHint(sqlState, error.message);
      // A refused startup parameter is refused again on every attempt.
      const permanent = isPermanentConnectFailure(sqlState) || (sqlState === '08P01' && hint !== '');
      return connectionError(error, serverMessage(error) + hint, context, !permanent);
    }
    const details: QueryErrorDetails = { dialect: 'postgres', sqlState, vendorCode: sqlState, cause: error };
    if (context.sql !== undefined) details.sql = context.sql;
    if (error.constraint !== undefined) details.constraint = error.constraint;
    if (error.table !== undefined) details.table = error.table;
    if (error.column !== undefined) details.column = error.column;
    const ErrorClass = (isStaleStatement(sqlState, error.message) ? StaleStatementError : QUERY_ERROR_CLASSES[sqlState]) ?? QueryError;
    return new ErrorClass(`${context.alias}: ${serverMessage(error)}${poolerHint(sqlState, error.message)}`, details);
  }

  const native = error instanceof Error ? error : new Error(String(error));
  // TLS is negotiated while connecting; the same settings would fail the same way again.
  const tlsFailure = context.connecting ? describeTlsFailure(error) : undefined;
  if (tlsFailure !== undefined) return connectionError(error, tlsFailure, context, false);
  if (context.connecting && native.message === NO_TLS_MESSAGE) {
    return connectionError(error, "the server does not offer TLS (tls.mode 'prefer' falls back to plaintext; stricter modes refuse)", context, false);
  }
  const code = socketErrorCode(native);
  const isConnectionFailure =
    context.connecting === true ||
    (code !== undefined && SOCKET_ERROR_CODES.has(code)) ||
    CONNECTION_MESSAGES.some((text) => native.message.startsWith(text));
  if (isConnectionFailure) return connectionError(error, native.message || code || native.name, context, true);
  const details: QueryErrorDetails = { dialect: 'postgres', cause: error };
  if (context.sql !== undefined) details.sql = context.sql;
  return new QueryError(`${context.alias}: ${native.message}`, details);
}
