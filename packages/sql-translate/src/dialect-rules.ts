import { TranslationError } from './translation-error.js';
import type { BuiltinDialect, CustomDialect, CustomSyntax, TranslateTarget } from './types.js';

/** Everything the lexer needs to know about a target, resolved once per compile. */
export interface DialectRules {
  readonly name: string;
  readonly quote: '"' | '`';
  /** Writes the n-th (1-based) positional placeholder; `null` means keep `?` as is. */
  readonly placeholder: ((index: number) => string) | null;
  readonly backslashEscapes: boolean;
  readonly dollarQuotes: boolean;
  /** PostgreSQL `E'...'` strings, where backslash escapes apply. */
  readonly escapeStrings: boolean;
  /** PostgreSQL nests block comments. */
  readonly nestedComments: boolean;
  /** MySQL `#` line comments. */
  readonly hashComments: boolean;
  /** MySQL starts a `--` comment only when whitespace (or the end) follows. */
  readonly dashCommentNeedsSpace: boolean;
  /** PostgreSQL native `$n` placeholders. */
  readonly dollarPlaceholders: boolean;
  /** SQLite native `?NNN`, `:name`, `@name`, `$name` placeholders. */
  readonly sqlitePlaceholders: boolean;
}

const dollar = (index: number): string => '$' + index;

type LexicalRules = Omit<DialectRules, 'name' | 'quote' | 'placeholder' | 'backslashEscapes' | 'dollarQuotes'>;

const LEXICAL: Record<BuiltinDialect, LexicalRules> = {
  postgres: {
    escapeStrings: true,
    nestedComments: true,
    hashComments: false,
    dashCommentNeedsSpace: false,
    dollarPlaceholders: true,
    sqlitePlaceholders: false,
  },
  mysql: {
    escapeStrings: false,
    nestedComments: false,
    hashComments: true,
    dashCommentNeedsSpace: true,
    dollarPlaceholders: false,
    sqlitePlaceholders: false,
  },
  sqlite: {
    escapeStrings: false,
    nestedComments: false,
    hashComments: false,
    dashCommentNeedsSpace: false,
    dollarPlaceholders: false,
    sqlitePlaceholders: true,
  },
};

/** The rules of the three built-in targets. */
export const BUILTIN_RULES: Record<BuiltinDialect, DialectRules> = {
  postgres: {
    name: 'postgres',
    quote: '"',
    placeholder: dollar,
    backslashEscapes: false,
    dollarQuotes: true,
    ...LEXICAL.postgres,
  },
  mysql: { name: 'mysql', quote: '`', placeholder: null, backslashEscapes: true, dollarQuotes: false, ...LEXICAL.mysql },
  sqlite: { name: 'sqlite', quote: '"', placeholder: null, backslashEscapes: false, dollarQuotes: false, ...LEXICAL.sqlite },
};

/** The name a target reports in errors, even when the target is malformed. */
export function targetName(target: unknown): string {
  if (typeof target === 'string') return target;
  if (typeof target === 'object' && target !== null && typeof (target as CustomDialect).name === 'string') {
    return (target as CustomDialect).name;
  }
  return String(target);
}

function invalidTarget(target: unknown, what: string): TranslationError {
  return new TranslationError(`Invalid translation target: ${what}`, {
    dialect: targetName(target),
    construct: 'target',
  });
}

/**
 * Resolves a target (built-in name or custom dialect) to lexer rules.
 * @throws {TranslationError} when the target is not a built-in name or a well-formed custom dialect.
 */
export function resolveRules(target: TranslateTarget): DialectRules {
  if (typeof target === 'string') {
    const rules = (BUILTIN_RULES as Record<string, DialectRules | undefined>)[target];
    if (rules === undefined) throw invalidTarget(target, 'expected postgres, mysql, sqlite or a CustomDialect');
    return rules;
  }
  if (typeof target !== 'object' || target === null) throw invalidTarget(target, 'expected a dialect name or object');
  if (typeof target.name !== 'string' || target.name === '') throw invalidTarget(target, 'name must be a non-empty string');
  if (target.identifierQuote !== '"' && target.identifierQuote !== '`') {
    throw invalidTarget(target, 'identifierQuote must be " or `');
  }
  const syntax = target.syntax ?? 'sqlite';
  const lexical = typeof syntax === 'object' && syntax !== null ? customLexical(target, syntax) : (LEXICAL as Record<string, LexicalRules | undefined>)[syntax];
  if (lexical === undefined) throw invalidTarget(target, 'syntax must be postgres, mysql, sqlite or a CustomSyntax object');
  let placeholder: DialectRules['placeholder'];
  if (target.placeholder === 'question') placeholder = null;
  else if (target.placeholder === 'dollar') placeholder = dollar;
  else if (typeof target.placeholder === 'function') placeholder = checkedPlaceholder(target, target.placeholder);
  else throw invalidTarget(target, "placeholder must be 'question', 'dollar' or a function");
  return {
    name: target.name,
    quote: target.identifierQuote,
    placeholder,
    backslashEscapes: target.backslashEscapes === true,
    dollarQuotes: target.dollarQuotes === true,
    ...lexical,
  };
}

const NATIVE_PLACEHOLDERS = ['dollar', 'named', 'none'] as const;

/** The lexer rules of a `CustomSyntax`: each one off unless set. */
function customLexical(target: CustomDialect, syntax: CustomSyntax): LexicalRules {
  const flag = (key: 'escapeStrings' | 'nestedComments' | 'hashComments' | 'dashCommentNeedsSpace'): boolean => {
    const value = syntax[key];
    if (value !== undefined && typeof value !== 'boolean') throw invalidTarget(target, `syntax.${key} must be a boolean`);
    return value === true;
  };
  const native = syntax.nativePlaceholders ?? 'none';
  if (!(NATIVE_PLACEHOLDERS as readonly string[]).includes(native)) throw invalidTarget(target, "syntax.nativePlaceholders must be 'dollar', 'named' or 'none'");
  return {
    escapeStrings: flag('escapeStrings'),
    nestedComments: flag('nestedComments'),
    hashComments: flag('hashComments'),
    dashCommentNeedsSpace: flag('dashCommentNeedsSpace'),
    dollarPlaceholders: native === 'dollar',
    sqlitePlaceholders: native === 'named',
  };
}

// A custom placeholder function runs only on a cache miss, so checking its result is cheap.
function checkedPlaceholder(target: CustomDialect, fn: (index: number) => string): (index: number) => string {
  return (index) => {
    const text = fn(index);
    if (typeof text !== 'string' || text === '') {
      throw invalidTarget(target, 'placeholder function must return a non-empty string');
    }
    return text;
  };
}
