/** The three built-in targets. */
export type BuiltinDialect = 'postgres' | 'mysql' | 'sqlite';

/** Rules for a backend that is not built in (a plugin's Oracle, say). */
export interface CustomDialect {
  readonly name: string;
  /** Quote character for identifiers: `[a b]` becomes `"a b"` or `` `a b` ``. */
  readonly identifierQuote: '"' | '`';
  /** How the n-th (1-based) placeholder is written natively: `?`, `$n`, or your own (`:n`). */
  readonly placeholder: 'question' | 'dollar' | ((index: number) => string);
  /** Backslash escapes inside '...' strings (MySQL's default). */
  readonly backslashEscapes?: boolean;
  /** PostgreSQL dollar-quoted bodies `$tag$...$tag$`. */
  readonly dollarQuotes?: boolean;
  /**
   * The lexer's rules for comments, string prefixes and native placeholders: a built-in lexer
   * (`'postgres'`: nested block comments, `E'...'`, `$n`; `'mysql'`: `#` comments, `-- ` needs a
   * space; `'sqlite'`: `?NNN`, `:name`, `@name`, `$name`), or your own `CustomSyntax`.
   * Defaults to `'sqlite'`, the plainest. `backslashEscapes` and `dollarQuotes` are read from this
   * dialect object only.
   */
  readonly syntax?: BuiltinDialect | CustomSyntax;
}

/** A lexer of your own for a `CustomDialect`; every rule is off unless set. */
export interface CustomSyntax {
  /** `E'...'` strings, inside which backslash escapes apply (PostgreSQL). */
  readonly escapeStrings?: boolean;
  /** Block comments nest (PostgreSQL). */
  readonly nestedComments?: boolean;
  /** `#` starts a line comment (MySQL). */
  readonly hashComments?: boolean;
  /** `--` starts a comment only when whitespace or the end follows (MySQL). */
  readonly dashCommentNeedsSpace?: boolean;
  /**
   * Native placeholders passed through untouched: `'dollar'` for `$n` (counted, and never mixed
   * with `?`), `'named'` for `?NNN`, `:name`, `@name`, `$name`, or `'none'` (the default).
   */
  readonly nativePlaceholders?: 'dollar' | 'named' | 'none';
}

/** A built-in dialect name or a custom dialect's rules. */
export type TranslateTarget = BuiltinDialect | CustomDialect;

/** A translated statement, cached per (target, sql). */
export interface CompiledSql {
  /** The native SQL. */
  readonly sql: string;
  /** Number of parameters the statement expects, or -1 when it cannot be known (named native placeholders). */
  readonly parameterCount: number;
}

/** Result of `translate`. */
export interface Translated {
  readonly sql: string;
  readonly params: readonly unknown[];
}
