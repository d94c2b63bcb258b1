import {
  CheckViolationError,
  ConnectionError,
  DalError,
  DeadlockError,
  describeTlsFailure,
  ForeignKeyViolationError,
  NotNullViolationError,
  QueryError,
  StaleStatementError,
  UniqueViolationError,
  type QueryErrorDetails,
} from '@dal/core';

/** Where a native error happened, for `mapMysqlError`. */
export interface MysqlErrorContext {
  /** The config alias, first word of every message. */
  readonly alias: string;
  /** The native SQL that failed, kept on `QueryError.sql` (never its parameter values). */
  readonly sql?: string;
  /** `host:port` (or the socket path), named by connection errors. */
  readonly host?: string;
  /** True while opening a connection: every failure is then a `ConnectionError`. */
  readonly connecting?: boolean;
  /** True when that connection was attempted without TLS. */
  readonly plaintext?: boolean;
}

/** The fields of a mysql2 error that the mapping reads. */
interface NativeMysqlError {
  message?: unknown;
  code?: unknown;
  errno?: unknown;
  sqlState?: unknown;
  sqlMessage?: unknown;
  fatal?: unknown;
}

/** mysql2's code when TLS is asked for and the server does not offer it. */
export const NO_TLS_CODE = 'HANDSHAKE_NO_SSL_SUPPORT';
/** mysql2's code for any failed TLS handshake; it replaces Node's own code (the message stays). */
const TLS_HANDSHAKE_CODE = 'HANDSHAKE_SSL_ERROR';
/** The server refuses plaintext sessions (--require-secure-transport). */
const SECURE_TRANSPORT_REQUIRED = 3159;

/** Socket-level failures (Node codes and mysql2 protocol codes): the connection is gone, try another. */
const NETWORK_CODES = new Set([
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/**
 * Server errors meaning the session is gone or could not start for a passing reason:
 * 2006/2013 server gone/lost, 1927 connection killed, 1053 shutdown, 1040/1203 too many
 * connections, 1152 aborted connection, 3169 session killed, 4031 idle disconnect.
 */
const RETRYABLE_CONNECTION_ERRNOS = new Set([2002, 2003, 2006, 2013, 2055, 1927, 1053, 1040, 1203, 1152, 3169, 4031]);

/**
 * Errors that retrying cannot fix: 1045 access denied (bad password), 1044 no access to the
 * database, 1049 unknown database, 1130 host not allowed, 1251/1698 auth plugin refused,
 * 1862 password expired, 3118 account locked, 3159 the server requires TLS.
 */
const FATAL_CONNECT_ERRNOS = new Set([1045, 1044, 1049, 1130, 1251, 1698, 1862, 3118, SECURE_TRANSPORT_REQUIRED]);

/** Server messages that quote the offending value (which may be a parameter): redact it. */
const VALUE_IN_MESSAGE = /^(Duplicate entry )'[\s\S]*'( for key '[^']*'\.?)$|^([\s\S]*? value: )'[\s\S]*'((?: for |$)[\s\S]*)$/;
const REDACT_ERRNOS = new Set([1062, 1586, 1292, 1366, 1367, 1411]);

const DUP_KEY = /for key '([^']*)'\.?$/;
const FK = /\(`([^`]*)`\.`([^`]*)`, CONSTRAINT `([^`]*)` FOREIGN KEY \(`([^`]*)`/;
const NOT_NULL_COLUMN = /^(?:Column|Field) '([^']*)'/;
const MYSQL_CHECK = /^Check constraint '([^']*)' is violated/;
const MARIADB_CHECK = /^CONSTRAINT `([^`]*)` failed for `[^`]*`\.`([^`]*)`/;

/**
 * Turn a mysql2 error into the matching DalError: unique / foreign key / not null / check
 * violations, deadlocks, lock wait timeouts (retryable `QueryError`), connection failures
 * (`ConnectionError`, retryable unless it is an authentication or unknown-database failure),
 * everything else `QueryError` with `sqlState` and the errno as `vendorCode`.
 * The native error is kept untouched as `cause`; values quoted by the server are redacted.
 *
 * ```ts
 * try { await conn.execute(sql, params, opts); } catch (e) { throw mapMysqlError(e, { alias: 'main', sql }); }
 * ```
 */
export function mapMysqlError(error: unknown, context: MysqlErrorContext): DalError {
  if (DalError.isInstance(error)) return error;
  const native = (typeof error === 'object' && error !== null ? error : { message: String(error) }) as NativeMysqlError;
  const errno = typeof native.errno === 'number' ? native.errno : undefined;
  const code = typeof native.code === 'string' ? native.code : undefined;
  const serverMessage = typeof native.sqlMessage === 'string' ? native.sqlMessage : String(native.message ?? 'unknown error');
  const message = errno !== undefined && REDACT_ERRNOS.has(errno) ? redactValue(serverMessage) : serverMessage;
  const where = context.host === undefined ? '' : ` (${context.host})`;

  // TLS is negotiated while connecting; the same settings would fail the same way again.
  const tlsFailure = context.connecting ? describeTlsFailure(error, code === TLS_HANDSHAKE_CODE) : undefined;
  const tlsReason =
    tlsFailure ?? (code === NO_TLS_CODE ? "the server does not offer TLS (tls.mode 'prefer' falls back to plaintext; stricter modes refuse)" : undefined);
  if (tlsReason !== undefined) {
    return new ConnectionError(`${context.alias}: cannot connect${where}: ${tlsReason}`, { cause: error, retryable: false, ...hostOf(context) });
  }
  if (errno === SECURE_TRANSPORT_REQUIRED) {
    const text = `${context.alias}: cannot connect${where}: ${message} (the server requires TLS: set tls.mode, e.g. verify-full)`;
    return new ConnectionError(text, { cause: error, retryable: false, ...hostOf(context) });
  }

  const isNetwork = (code !== undefined && NETWORK_CODES.has(code)) || (errno === undefined && native.fatal === true);
  if (isNetwork || (errno !== undefined && (RETRYABLE_CONNECTION_ERRNOS.has(errno) || errno === 1045))) {
    const retryable = errno !== 1045;
    const verb = context.connecting ? 'cannot connect' : 'connection failed';
    // MariaDB refuses a plaintext login to a server with require_secure_transport as "access denied" too.
    const hint = errno === 1045 && context.plaintext ? ' (the connection was not encrypted: a server that requires TLS refuses it this way too; see tls.mode)' : '';
    return new ConnectionError(`${context.alias}: ${verb}${where}: ${message}${hint}`, { cause: error, retryable, ...hostOf(context) });
  }
  if (context.connecting) {
    const retryable = errno === undefined || !FATAL_CONNECT_ERRNOS.has(errno);
    return new ConnectionError(`${context.alias}: cannot connect${where}: ${message}`, { cause: error, retryable, ...hostOf(context) });
  }

  const details: QueryErrorDetails = { dialect: 'mysql', cause: error };
  if (typeof native.sqlState === 'string') details.sqlState = native.sqlState;
  if (errno !== undefined) details.vendorCode = String(errno);
  if (context.sql !== undefined) details.sql = context.sql;
  const text = `${context.alias}: ${message}`;

  switch (errno) {
    case 1062:
    case 1586: {
      const key = DUP_KEY.exec(serverMessage)?.[1];
      if (key !== undefined) {
        // MySQL 8 names the key 'table.key'; MariaDB gives the bare key name.
        const dot = key.indexOf('.');
        if (dot > 0) {
          details.table = key.slice(0, dot);
          details.constraint = key.slice(dot + 1);
        } else details.constraint = key;
      }
      return new UniqueViolationError(text, details);
    }
    case 1451:
    case 1452:
    case 1216:
    case 1217: {
      const match = FK.exec(serverMessage);
      if (match) {
        details.table = match[2];
        details.constraint = match[3];
        details.column = match[4];
      }
      return new ForeignKeyViolationError(text, details);
    }
    case 1048:
    case 1364:
    case 1263: {
      const column = NOT_NULL_COLUMN.exec(serverMessage)?.[1];
      if (column !== undefined) details.column = column;
      return new NotNullViolationError(text, details);
    }
    case 3819: {
      const constraint = MYSQL_CHECK.exec(serverMessage)?.[1];
      if (constraint !== undefined) details.constraint = constraint;
      return new CheckViolationError(text, details);
    }
    case 4025: {
      const match = MARIADB_CHECK.exec(serverMessage);
      if (match) {
        details.constraint = match[1];
        details.table = match[2];
      }
      return new CheckViolationError(text, details);
    }
    case 1213:
      return new DeadlockError(text, details);
    case 1615:
      // ER_NEED_REPREPARE: DDL elsewhere invalidated the prepared statement; it did not run.
      return new StaleStatementError(text, details);
    case 1205:
      // The statement (not the transaction) was rolled back; running it again may succeed.
      return new QueryError(text, { ...details, retryable: true });
    default:
      return new QueryError(text, details);
  }
}

function redactValue(message: string): string {
  const match = VALUE_IN_MESSAGE.exec(message);
  if (match === null) return message;
  return match[1] !== undefined ? `${match[1]}'***'${match[2] ?? ''}` : `${match[3] ?? ''}'***'${match[4] ?? ''}`;
}

function hostOf(context: MysqlErrorContext): { host?: string } {
  return context.host === undefined ? {} : { host: context.host };
}
