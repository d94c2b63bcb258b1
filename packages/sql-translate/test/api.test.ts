import { describe, expect, it } from 'vitest';
import {
  checkParameterCount,
  compile,
  quoteIdentifier,
  translate,
  TranslationError,
  type CustomDialect,
} from '../src/index.js';

function catchError(fn: () => unknown): TranslationError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(TranslationError);
    return e as TranslationError;
  }
  throw new Error('expected a TranslationError');
}

describe('translate', () => {
  it('matches the API.md example', () => {
    expect(translate('SELECT * FROM [t] WHERE [a] = ?', 'postgres', [1])).toEqual({
      sql: 'SELECT * FROM "t" WHERE "a" = $1',
      params: [1],
    });
  });

  it('returns the given params and [] when none are given', () => {
    const params = ['x', 2];
    expect(translate('SELECT ?, ?', 'mysql', params).params).toBe(params);
    expect(translate('SELECT [a]', 'sqlite')).toEqual({ sql: 'SELECT "a"', params: [] });
  });

  it('skips the parameter check when params are omitted', () => {
    expect(translate('SELECT ?, ?', 'postgres').sql).toBe('SELECT $1, $2');
  });

  it('names the first placeholder without a value', () => {
    const secret = 'hunter2-secret';
    const error = catchError(() => translate('SELECT [a] FROM t WHERE [b] = ? AND [c] = ?', 'postgres', [secret]));
    expect(error.construct).toBe('parameters');
    expect(error.position).toBe(42);
    expect(error.message).toContain('Placeholder 2');
    expect(error.message).toContain('offset 42');
    expect(error.message).toContain('expects 2 parameters, got 1');
    expect(error.message).not.toContain(secret);
    expect(JSON.stringify(error)).not.toContain(secret);
  });

  it('names the last placeholder when there are too many values', () => {
    const error = catchError(() => translate('SELECT ? + ?', 'sqlite', [1, 2, 'secret-value']));
    expect(error.construct).toBe('parameters');
    expect(error.position).toBe(11);
    expect(error.message).toContain('1 parameter too many');
    expect(error.message).not.toContain('secret-value');
  });

  it('rejects values for a statement without placeholders', () => {
    const error = catchError(() => translate('SELECT 1', 'mysql', [1]));
    expect(error.construct).toBe('parameters');
    expect(error.position).toBeUndefined();
  });

  it('counts native $n by their highest number', () => {
    expect(translate('SELECT $2, $1, $2', 'postgres', ['a', 'b']).sql).toBe('SELECT $2, $1, $2');
    const error = catchError(() => translate('SELECT $1, $3', 'postgres', ['a', 'b']));
    expect(error.message).toContain('$3');
    expect(error.position).toBe(11);
  });

  it('does not check counts it cannot know (SQLite named placeholders)', () => {
    expect(translate('SELECT :a, :b', 'sqlite', [{ a: 1, b: 2 }]).sql).toBe('SELECT :a, :b');
  });

  it('rejects an unknown target', () => {
    const error = catchError(() => translate('SELECT 1', 'oracle' as 'postgres'));
    expect(error.construct).toBe('target');
    expect(error.dialect).toBe('oracle');
  });
});

describe('checkParameterCount', () => {
  it('passes on a match and throws on a mismatch with the given dialect name', () => {
    const compiled = compile('SELECT ? FROM [t]', 'postgres');
    expect(() => checkParameterCount(compiled, [1], 'postgres')).not.toThrow();
    const error = catchError(() => checkParameterCount(compiled, [], 'postgres'));
    expect(error.dialect).toBe('postgres');
    expect(error.position).toBe(7);
  });

  it('works on a CompiledSql it did not create', () => {
    const error = catchError(() => checkParameterCount({ sql: 'SELECT $1', parameterCount: 1 }, []));
    expect(error.dialect).toBe('unknown');
    expect(error.position).toBeUndefined();
    expect(() => checkParameterCount({ sql: 'SELECT :a', parameterCount: -1 }, [1, 2, 3])).not.toThrow();
  });
});

describe('quoteIdentifier', () => {
  it("quotes for each target, doubling the target's quote", () => {
    expect(quoteIdentifier('my "col"', 'postgres')).toBe('"my ""col"""');
    expect(quoteIdentifier('my `col`', 'mysql')).toBe('`my ``col```');
    expect(quoteIdentifier('a"b`c', 'sqlite')).toBe('"a""b`c"');
    expect(quoteIdentifier('x]y', 'postgres')).toBe('"x]y"');
  });

  it('quotes for a custom dialect', () => {
    expect(quoteIdentifier('a`b', { name: 'tidb', identifierQuote: '`', placeholder: 'question' })).toBe('`a``b`');
  });

  it('rejects empty names and NUL characters', () => {
    expect(catchError(() => quoteIdentifier('', 'postgres')).construct).toBe('identifier');
    expect(catchError(() => quoteIdentifier('a\0b', 'mysql')).construct).toBe('identifier');
  });
});

describe('custom dialects', () => {
  const colon: CustomDialect = { name: 'oracle-ish', identifierQuote: '"', placeholder: (i) => ':' + i };

  it('uses a custom placeholder function', () => {
    expect(translate('SELECT [a] FROM [t] WHERE [b] = ? AND [c] = ?', colon, [1, 2]).sql).toBe(
      'SELECT "a" FROM "t" WHERE "b" = :1 AND "c" = :2',
    );
  });

  it("supports 'dollar' and 'question' placeholders", () => {
    const dollar: CustomDialect = { name: 'cockroach', identifierQuote: '"', placeholder: 'dollar', dollarQuotes: true, syntax: 'postgres' };
    expect(compile("SELECT ?, $$?$$, E'\\'?'", dollar).sql).toBe("SELECT $1, $$?$$, E'\\'?'");
    const question: CustomDialect = { name: 'tidb', identifierQuote: '`', placeholder: 'question', backslashEscapes: true, syntax: 'mysql' };
    expect(compile("SELECT [a], 'x\\'?', ? # ?", question)).toMatchObject({ sql: "SELECT `a`, 'x\\'?', ? # ?", parameterCount: 1 });
  });

  it('defaults to plain (SQLite-like) lexing: no nesting, no # comments, no backslash escapes', () => {
    const compiled = compile("SELECT /* /* */ ?, # ?, 'a\\', ?", colon);
    expect(compiled.sql).toBe("SELECT /* /* */ :1, # :2, 'a\\', :3");
    expect(compiled.parameterCount).toBe(3);
  });

  it('takes a lexer of its own (CustomSyntax) instead of borrowing a built-in one', () => {
    // Oracle-like: `--` and plain block comments, native :name placeholders kept, ? becomes :n.
    const oracle: CustomDialect = { name: 'oracle', identifierQuote: '"', placeholder: (n) => `:${n}`, syntax: { nativePlaceholders: 'named' } };
    expect(compile("SELECT [a], ':x?' FROM [t] WHERE [b] = ? -- ?\n AND [c] = ?", oracle)).toMatchObject({
      sql: "SELECT \"a\", ':x?' FROM \"t\" WHERE \"b\" = :1 -- ?\n AND \"c\" = :2",
      parameterCount: 2,
    });
    expect(compile('SELECT [a] FROM [t] WHERE [b] = :b', oracle)).toMatchObject({ sql: 'SELECT "a" FROM "t" WHERE "b" = :b', parameterCount: -1 });
    // Each rule on its own: # comments and nesting without the rest of MySQL or PostgreSQL.
    const mixed: CustomDialect = { name: 'mixed', identifierQuote: '`', placeholder: 'question', syntax: { hashComments: true, nestedComments: true } };
    expect(compile('SELECT ? /* /* ? */ ? */, ? # ?', mixed)).toMatchObject({ parameterCount: 2 });
    const dollar: CustomDialect = { name: 'dollarish', identifierQuote: '"', placeholder: 'dollar', syntax: { nativePlaceholders: 'dollar' } };
    expect(compile('SELECT $1, $2', dollar).parameterCount).toBe(2);
    const bad = [{ hashComments: 'yes' }, { nativePlaceholders: 'colon' }];
    for (const syntax of bad) {
      expect(catchError(() => compile('SELECT ?', { name: 'x', identifierQuote: '"', placeholder: 'question', syntax } as unknown as CustomDialect)).construct).toBe('target');
    }
  });

  it('rejects malformed dialects with construct "target"', () => {
    const bad = [
      { name: '', identifierQuote: '"', placeholder: 'question' },
      { name: 'x', identifierQuote: "'", placeholder: 'question' },
      { name: 'x', identifierQuote: '"', placeholder: 'named' },
      { name: 'x', identifierQuote: '"', placeholder: 'question', syntax: 'oracle' },
      { name: 'x', identifierQuote: '"', placeholder: () => '' },
    ];
    for (const dialect of bad) {
      expect(catchError(() => compile('SELECT ?', dialect as unknown as CustomDialect)).construct).toBe('target');
    }
  });
});

describe('TranslationError', () => {
  it('has the DalError shape and cross-package marker', () => {
    const error = catchError(() => compile("SELECT 'x", 'mysql'));
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('TranslationError');
    expect(error.code).toBe('DAL_TRANSLATE');
    expect(error.retryable).toBe(false);
    expect((error as unknown as Record<symbol, unknown>)[Symbol.for('@dal/error')]).toBe(true);
    expect(Object.keys(error)).not.toContain(Symbol.for('@dal/error'));
    expect(error.toJSON()).toEqual({
      name: 'TranslationError',
      code: 'DAL_TRANSLATE',
      message: error.message,
      retryable: false,
      dialect: 'mysql',
      construct: 'string literal',
      position: 7,
    });
  });
});
