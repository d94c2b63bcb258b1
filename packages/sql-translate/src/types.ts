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
   * Which built-in lexer to follow for comments, string prefixes and native placeholders
   * (`'postgres'`: nested block comments, `E'...'`, `$n`; `'mysql'`: `#` comments, `-- ` needs a
   * space; `'sqlite'`: `?NNN`, `:name`, `@name`, `$name`). Defaults to `'sqlite'`, the plainest.
   * `backslashEscapes` and `dollarQuotes` are read from this dialect object only.
   */
  readonly syntax?: BuiltinDialect;
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
