// The marker DalError.isInstance (in @dal/resilience) looks for; this package has no
// dependencies, so it carries the marker instead of extending DalError.
const DAL_ERROR_MARKER = Symbol.for('@dal/error');

/** The part of the statement a `TranslationError` is about. */
export type TranslationConstruct =
  | 'string literal'
  | 'quoted identifier'
  | 'block comment'
  | 'dollar quote'
  | 'bracket identifier'
  | 'placeholder'
  | 'parameters'
  | 'identifier'
  | 'target';

/** Where and what went wrong, for `TranslationError`'s constructor. */
export interface TranslationErrorDetails {
  readonly dialect: string;
  readonly construct: TranslationConstruct;
  /** 0-based character (UTF-16 code unit) offset into the portable SQL. */
  readonly position?: number;
}

/**
 * Portable SQL could not be translated (unterminated literal, comment or bracket, mixed
 * placeholder styles) or its parameters do not match its placeholders. Thrown before anything
 * reaches a server; `DalError.isInstance(e)` and `e instanceof DalError` hold for it.
 *
 * ```ts
 * try { translate("SELECT 'oops", 'postgres'); }
 * catch (e) { if (e instanceof TranslationError) console.log(e.construct, e.position); }
 * ```
 */
export class TranslationError extends Error {
  override readonly name = 'TranslationError';
  readonly code = 'DAL_TRANSLATE' as const;
  readonly retryable = false;
  /** The target's name (`'postgres'`, `'mysql'`, `'sqlite'` or a custom dialect's `name`). */
  readonly dialect: string;
  /** What was being read or checked when translation failed. */
  readonly construct: TranslationConstruct;
  /** 0-based character offset into the portable SQL, when the error is about one place. */
  readonly position?: number;

  constructor(message: string, details: TranslationErrorDetails) {
    super(message);
    this.dialect = details.dialect;
    this.construct = details.construct;
    if (details.position !== undefined) this.position = details.position;
    Object.defineProperty(this, DAL_ERROR_MARKER, { value: true, enumerable: false });
  }

  /** JSON form for logs, like DalError's; the message never holds parameter values. */
  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      code: this.code,
      message: this.message,
      retryable: this.retryable,
      dialect: this.dialect,
      construct: this.construct,
      position: this.position,
    };
  }
}
