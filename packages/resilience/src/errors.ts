/**
 * The error base shared by every @dal package. It lives here, in the package with no
 * dependencies, so that `@dal/resilience` can throw `DalError`s on its own and
 * `@dal/core` re-exports the very same classes.
 */

const DAL_ERROR_MARKER = Symbol.for('@dal/error');

/** Every stable error code. Part of semver: codes are never renamed. */
export type DalErrorCode =
  | 'DAL_CONFIG'
  | 'DAL_DRIVER_NOT_INSTALLED'
  | 'DAL_CONNECTION'
  | 'DAL_TIMEOUT'
  | 'DAL_POOL_TIMEOUT'
  | 'DAL_POOL_CLOSED'
  | 'DAL_QUERY_TIMEOUT'
  | 'DAL_ABORTED'
  | 'DAL_CIRCUIT_OPEN'
  | 'DAL_QUERY'
  | 'DAL_UNIQUE_VIOLATION'
  | 'DAL_FOREIGN_KEY_VIOLATION'
  | 'DAL_NOT_NULL_VIOLATION'
  | 'DAL_CHECK_VIOLATION'
  | 'DAL_DEADLOCK'
  | 'DAL_SERIALIZATION_FAILURE'
  | 'DAL_STALE_STATEMENT'
  | 'DAL_TRANSLATE'
  | 'DAL_TRANSACTION'
  | 'DAL_CONNECTION_RELEASED'
  | 'DAL_UNSUPPORTED'
  | 'DAL_ENTITY';

export interface DalErrorOptions {
  cause?: unknown;
  retryable?: boolean;
}

/**
 * Base class of every error thrown by @dal. Carries a stable `code`, a `retryable` flag and
 * the underlying error as `cause`.
 *
 * ```ts
 * try { await conn.execute('SELECT 1'); } catch (e) { if (DalError.isInstance(e)) console.log(e.code); }
 * ```
 */
export abstract class DalError extends Error {
  abstract readonly code: DalErrorCode;
  readonly retryable: boolean;
  private readonly [DAL_ERROR_MARKER] = true;

  constructor(message: string, options: DalErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.retryable = options.retryable ?? false;
  }

  /**
   * `x instanceof DalError` holds for errors from another copy of the package too (and for
   * @dal/sql-translate's TranslationError, which carries the marker without importing this
   * class). Subclasses keep the ordinary prototype check.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (this === DalError) return DalError.isInstance(value);
    return Function.prototype[Symbol.hasInstance].call(this, value);
  }

  /** True for any DalError, even one thrown by another copy of the package. */
  static isInstance(error: unknown): error is DalError {
    return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[DAL_ERROR_MARKER] === true;
  }

  /** JSON form for logs: never includes parameter values. */
  toJSON(): Record<string, unknown> {
    return { name: this.name, code: this.code, message: this.message, retryable: this.retryable };
  }
}

/** An operation took longer than its budget. */
export class TimeoutError extends DalError {
  override readonly name: string = 'TimeoutError';
  readonly code: DalErrorCode = 'DAL_TIMEOUT';
  constructor(message: string, readonly timeoutMs: number, options: DalErrorOptions = {}) {
    super(message, options);
  }
}

/** The caller's AbortSignal fired; `reason` is `signal.reason`. */
export class AbortedError extends DalError {
  override readonly name: string = 'AbortedError';
  readonly code = 'DAL_ABORTED' as const;
  constructor(message: string, readonly reason?: unknown, options: DalErrorOptions = {}) {
    super(message, { cause: options.cause ?? reason, retryable: false });
  }
}

/** A circuit breaker is open and rejected the call without running it. */
export class CircuitOpenError extends DalError {
  override readonly name: string = 'CircuitOpenError';
  readonly code = 'DAL_CIRCUIT_OPEN' as const;
  constructor(message: string, readonly breakerName: string, readonly retryAfterMs: number, options: Pick<DalErrorOptions, 'cause'> = {}) {
    super(message, { ...options, retryable: false });
  }
}
