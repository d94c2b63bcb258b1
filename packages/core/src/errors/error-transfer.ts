/**
 * A DalError as plain data, and back: errors that cross a thread (worker-backed synchronous
 * connections) arrive as the same class, with their `code`, `retryable`, `sqlState`, ... and
 * their cause's message. A structured clone alone would keep only `name` and `message`.
 */
import { AbortedError, CircuitOpenError, DalError, TimeoutError, type DalErrorOptions } from '@dal/resilience';
import {
  CheckViolationError,
  ConfigError,
  ConnectionError,
  ConnectionReleasedError,
  DeadlockError,
  DriverNotInstalledError,
  EntityError,
  ForeignKeyViolationError,
  NotNullViolationError,
  PoolClosedError,
  PoolTimeoutError,
  QueryError,
  QueryTimeoutError,
  SerializationFailureError,
  TransactionError,
  UniqueViolationError,
  UnsupportedFeatureError,
  type QueryErrorDetails,
} from './errors.js';

/** Primitive own fields of an error (`code`, `retryable`, `sqlState`, `timeoutMs`, `host`, ...). */
type Fields = Record<string, string | number | boolean | bigint | undefined>;

export interface SerializedError {
  readonly name: string;
  readonly message: string;
  readonly fields: Fields;
  /** The cause's name, message and code, when there was a cause. */
  readonly cause?: { readonly name: string; readonly message: string; readonly code?: string | number };
}

type Rebuild = (message: string, fields: Fields, options: DalErrorOptions) => DalError;

const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
const num = (value: unknown): number => (typeof value === 'number' ? value : 0);
const queryError =
  (Class: new (message: string, details: QueryErrorDetails) => QueryError): Rebuild =>
  (message, fields, options) =>
    new Class(message, { ...options, dialect: str(fields['dialect']) ?? 'unknown' });
const plain =
  (Class: new (message: string, options?: DalErrorOptions) => DalError): Rebuild =>
  (message, _fields, options) =>
    new Class(message, options);

/** How each class is constructed again, by `code` (a subclass unknown here comes back as its code's class, `name` kept). */
const REBUILD: Record<string, Rebuild> = {
  DAL_CONFIG: plain(ConfigError),
  DAL_DRIVER_NOT_INSTALLED: (m, f, o) => new DriverNotInstalledError(m, str(f['packageName']) ?? '', o),
  DAL_CONNECTION: (m, _f, o) => new ConnectionError(m, o),
  DAL_TIMEOUT: (m, f, o) => new TimeoutError(m, num(f['timeoutMs']), o),
  DAL_POOL_TIMEOUT: (m, f, o) => new PoolTimeoutError(m, num(f['waitedMs']), num(f['poolSize']), o),
  DAL_POOL_CLOSED: plain(PoolClosedError),
  DAL_QUERY_TIMEOUT: (m, f, o) => new QueryTimeoutError(m, num(f['timeoutMs']), str(f['sql']), o),
  DAL_ABORTED: (m, _f, o) => new AbortedError(m, o.cause, o),
  DAL_CIRCUIT_OPEN: (m, f) => new CircuitOpenError(m, str(f['breakerName']) ?? '', num(f['retryAfterMs'])),
  DAL_QUERY: queryError(QueryError),
  DAL_UNIQUE_VIOLATION: queryError(UniqueViolationError),
  DAL_FOREIGN_KEY_VIOLATION: queryError(ForeignKeyViolationError),
  DAL_NOT_NULL_VIOLATION: queryError(NotNullViolationError),
  DAL_CHECK_VIOLATION: queryError(CheckViolationError),
  DAL_DEADLOCK: queryError(DeadlockError),
  DAL_SERIALIZATION_FAILURE: queryError(SerializationFailureError),
  DAL_TRANSACTION: plain(TransactionError),
  DAL_CONNECTION_RELEASED: plain(ConnectionReleasedError),
  DAL_UNSUPPORTED: (m, f) => new UnsupportedFeatureError(m, str(f['feature']) ?? '', str(f['dialect'])),
  DAL_ENTITY: plain(EntityError),
};

/** `error` as cloneable data (its own primitive fields; the cause as name, message and code). */
export function serializeError(error: DalError): SerializedError {
  const fields: Fields = {};
  for (const [key, value] of Object.entries(error)) {
    if (key === 'cause' || key === 'stack') continue;
    const type = typeof value;
    if (type === 'string' || type === 'number' || type === 'boolean' || type === 'bigint') fields[key] = value as Fields[string];
  }
  const cause: unknown = error.cause;
  if (cause === undefined || cause === null) return { name: error.name, message: error.message, fields };
  const code = (cause as { code?: unknown }).code;
  return {
    name: error.name,
    message: error.message,
    fields,
    cause: {
      name: cause instanceof Error ? cause.name : 'Error',
      message: cause instanceof Error ? cause.message : String(cause),
      ...(typeof code === 'string' || typeof code === 'number' ? { code } : {}),
    },
  };
}

/** The DalError `serializeError` described, of the same class, on this thread. */
export function rebuildError(serialized: SerializedError): DalError {
  let cause: Error | undefined;
  if (serialized.cause !== undefined) {
    cause = new Error(serialized.cause.message);
    cause.name = serialized.cause.name;
    if (serialized.cause.code !== undefined) Object.assign(cause, { code: serialized.cause.code });
  }
  const { fields } = serialized;
  const rebuild = REBUILD[String(fields['code'])] ?? plain(ConnectionError);
  const options: DalErrorOptions = cause === undefined ? {} : { cause };
  const error = rebuild(serialized.message, fields, options);
  // Every field as it was (retryable, sqlState, host, name of a subclass unknown here, ...).
  Object.assign(error, fields, { name: serialized.name });
  return error;
}
