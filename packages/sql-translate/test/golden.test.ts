import { describe, expect, it } from 'vitest';
import { compile, TranslationError, type BuiltinDialect, type TranslationConstruct } from '../src/index.js';

type Expectation =
  | { readonly sql: string; readonly count: number }
  | { readonly error: TranslationConstruct; readonly at: number };

/** One expectation per built-in dialect: adding a dialect breaks compilation until every case has one. */
type PerDialect<T> = { readonly [D in BuiltinDialect]: T };

interface GoldenCase {
  readonly name: string;
  readonly sql: string;
  readonly expect: PerDialect<Expectation>;
}

const ok = (sql: string, count: number): Expectation => ({ sql, count });
const err = (error: TranslationConstruct, at: number): Expectation => ({ error, at });

const cases: readonly GoldenCase[] = [
  {
    name: 'bracket identifiers and positional placeholders',
    sql: 'SELECT * FROM [users] WHERE [id] = ? AND [age] > ?',
    expect: {
      postgres: ok('SELECT * FROM "users" WHERE "id" = $1 AND "age" > $2', 2),
      mysql: ok('SELECT * FROM `users` WHERE `id` = ? AND `age` > ?', 2),
      sqlite: ok('SELECT * FROM "users" WHERE "id" = ? AND "age" > ?', 2),
    },
  },
  {
    name: 'bracket identifier with a space',
    sql: 'SELECT [col name] FROM [my table]',
    expect: {
      postgres: ok('SELECT "col name" FROM "my table"', 0),
      mysql: ok('SELECT `col name` FROM `my table`', 0),
      sqlite: ok('SELECT "col name" FROM "my table"', 0),
    },
  },
  {
    name: ']] inside brackets is a literal ]',
    sql: 'SELECT [a]]b], [x]]]]]',
    expect: {
      postgres: ok('SELECT "a]b", "x]]"', 0),
      mysql: ok('SELECT `a]b`, `x]]`', 0),
      sqlite: ok('SELECT "a]b", "x]]"', 0),
    },
  },
  {
    name: "the target's quote character inside brackets is doubled",
    sql: 'SELECT [a"b`c]',
    expect: {
      postgres: ok('SELECT "a""b`c"', 0),
      mysql: ok('SELECT `a"b``c`', 0),
      sqlite: ok('SELECT "a""b`c"', 0),
    },
  },
  {
    name: 'brackets hide quotes, comments and placeholders',
    sql: "SELECT [it's -- ? /* $$] FROM t",
    expect: {
      postgres: ok('SELECT "it\'s -- ? /* $$" FROM t', 0),
      mysql: ok("SELECT `it's -- ? /* $$` FROM t", 0),
      sqlite: ok('SELECT "it\'s -- ? /* $$" FROM t', 0),
    },
  },
  {
    name: '?? is a literal question mark (PostgreSQL JSON operators)',
    sql: "SELECT [d] ?? 'k', [d] ??| ARRAY['a'], [d] ??& ARRAY['b'] FROM t WHERE [id] = ?",
    expect: {
      postgres: ok(`SELECT "d" ? 'k', "d" ?| ARRAY['a'], "d" ?& ARRAY['b'] FROM t WHERE "id" = $1`, 1),
      mysql: ok("SELECT `d` ? 'k', `d` ?| ARRAY['a'], `d` ?& ARRAY['b'] FROM t WHERE `id` = ?", 1),
      sqlite: ok(`SELECT "d" ? 'k', "d" ?| ARRAY['a'], "d" ?& ARRAY['b'] FROM t WHERE "id" = ?`, 1),
    },
  },
  {
    name: '??? is a literal ? then a placeholder',
    sql: 'SELECT a ??? b',
    expect: {
      postgres: ok('SELECT a ?$1 b', 1),
      mysql: ok('SELECT a ?? b', 1),
      sqlite: ok('SELECT a ?? b', 1),
    },
  },
  {
    name: 'native $n placeholders pass through',
    sql: 'SELECT * FROM t WHERE a = $1 AND b = $3 OR c = $1',
    expect: {
      postgres: ok('SELECT * FROM t WHERE a = $1 AND b = $3 OR c = $1', 3),
      mysql: ok('SELECT * FROM t WHERE a = $1 AND b = $3 OR c = $1', 0),
      sqlite: ok('SELECT * FROM t WHERE a = $1 AND b = $3 OR c = $1', -1),
    },
  },
  {
    name: 'native quoting passes through',
    sql: 'SELECT "a b", `c d` FROM "t"',
    expect: {
      postgres: ok('SELECT "a b", `c d` FROM "t"', 0),
      mysql: ok('SELECT "a b", `c d` FROM "t"', 0),
      sqlite: ok('SELECT "a b", `c d` FROM "t"', 0),
    },
  },
  {
    name: "string literals with '' escapes are opaque",
    sql: "SELECT '[x] ? ''?'' -- /*', [y] FROM t",
    expect: {
      postgres: ok(`SELECT '[x] ? ''?'' -- /*', "y" FROM t`, 0),
      mysql: ok("SELECT '[x] ? ''?'' -- /*', `y` FROM t", 0),
      sqlite: ok(`SELECT '[x] ? ''?'' -- /*', "y" FROM t`, 0),
    },
  },
  {
    name: "E'...' strings take backslash escapes on PostgreSQL",
    sql: "SELECT E'it\\'s [x] ?', ?",
    expect: {
      postgres: ok("SELECT E'it\\'s [x] ?', $1", 1),
      mysql: ok("SELECT E'it\\'s [x] ?', ?", 1),
      sqlite: err('string literal', 20),
    },
  },
  {
    name: "a word ending in e before a string is not an E'...' prefix",
    sql: "SELECT type'a\\', [b]",
    expect: {
      postgres: ok(`SELECT type'a\\', "b"`, 0),
      mysql: err('string literal', 11),
      sqlite: ok(`SELECT type'a\\', "b"`, 0),
    },
  },
  {
    name: "backslash escapes in '...' on MySQL only",
    sql: "SELECT 'a\\', [b], '?'",
    expect: {
      postgres: ok(`SELECT 'a\\', "b", '?'`, 0),
      mysql: err('string literal', 20),
      sqlite: ok(`SELECT 'a\\', "b", '?'`, 0),
    },
  },
  {
    name: '"..." is opaque (a string on MySQL, with backslash escapes)',
    sql: 'SELECT "[x] \\" ?", [y]',
    expect: {
      postgres: err('quoted identifier', 16),
      mysql: ok('SELECT "[x] \\" ?", `y`', 0),
      sqlite: err('quoted identifier', 16),
    },
  },
  {
    name: '"" inside "..." is an escaped quote',
    sql: 'SELECT "a""[b]?" FROM [t]',
    expect: {
      postgres: ok('SELECT "a""[b]?" FROM "t"', 0),
      mysql: ok('SELECT "a""[b]?" FROM `t`', 0),
      sqlite: ok('SELECT "a""[b]?" FROM "t"', 0),
    },
  },
  {
    name: 'backtick identifiers are opaque',
    sql: 'SELECT `[x] ?`` ?` FROM [t]',
    expect: {
      postgres: ok('SELECT `[x] ?`` ?` FROM "t"', 0),
      mysql: ok('SELECT `[x] ?`` ?` FROM `t`', 0),
      sqlite: ok('SELECT `[x] ?`` ?` FROM "t"', 0),
    },
  },
  {
    name: '-- line comments are opaque up to the line break',
    sql: 'SELECT [a] -- [x] ?\nFROM [t] WHERE [b] = ?',
    expect: {
      postgres: ok('SELECT "a" -- [x] ?\nFROM "t" WHERE "b" = $1', 1),
      mysql: ok('SELECT `a` -- [x] ?\nFROM `t` WHERE `b` = ?', 1),
      sqlite: ok('SELECT "a" -- [x] ?\nFROM "t" WHERE "b" = ?', 1),
    },
  },
  {
    name: 'a line comment ends at \\r too',
    sql: 'SELECT 1 -- ?\r[a]',
    expect: {
      postgres: ok('SELECT 1 -- ?\r"a"', 0),
      mysql: ok('SELECT 1 -- ?\r`a`', 0),
      sqlite: ok('SELECT 1 -- ?\r"a"', 0),
    },
  },
  {
    name: 'MySQL needs whitespace after -- for a comment',
    sql: 'SELECT 1 --?\n',
    expect: {
      postgres: ok('SELECT 1 --?\n', 0),
      mysql: ok('SELECT 1 --?\n', 1),
      sqlite: ok('SELECT 1 --?\n', 0),
    },
  },
  {
    name: '# is a comment on MySQL only',
    sql: 'SELECT 1 # [x] ?\n',
    expect: {
      postgres: ok('SELECT 1 # "x" $1\n', 1),
      mysql: ok('SELECT 1 # [x] ?\n', 0),
      sqlite: ok('SELECT 1 # "x" ?\n', 1),
    },
  },
  {
    name: 'block comments are opaque',
    sql: 'SELECT /* [x] ? */ [y] /**/ ?',
    expect: {
      postgres: ok('SELECT /* [x] ? */ "y" /**/ $1', 1),
      mysql: ok('SELECT /* [x] ? */ `y` /**/ ?', 1),
      sqlite: ok('SELECT /* [x] ? */ "y" /**/ ?', 1),
    },
  },
  {
    name: 'block comments nest on PostgreSQL only',
    sql: 'SELECT /* a /* b */ [x] ? */ [y]',
    expect: {
      postgres: ok('SELECT /* a /* b */ [x] ? */ "y"', 0),
      mysql: ok('SELECT /* a /* b */ `x` ? */ `y`', 1),
      sqlite: ok('SELECT /* a /* b */ "x" ? */ "y"', 1),
    },
  },
  {
    name: '$$ bodies are opaque on PostgreSQL',
    sql: "DO $$ BEGIN RAISE NOTICE '[x] ?'; END $$; SELECT ?",
    expect: {
      postgres: ok("DO $$ BEGIN RAISE NOTICE '[x] ?'; END $$; SELECT $1", 1),
      mysql: ok("DO $$ BEGIN RAISE NOTICE '[x] ?'; END $$; SELECT ?", 1),
      sqlite: ok("DO $$ BEGIN RAISE NOTICE '[x] ?'; END $$; SELECT ?", 1),
    },
  },
  {
    name: '$tag$ bodies are opaque and may contain $$',
    sql: 'CREATE FUNCTION f() RETURNS int AS $fn$ SELECT $$?$$ [x] $fn$ LANGUAGE sql',
    expect: {
      postgres: ok('CREATE FUNCTION f() RETURNS int AS $fn$ SELECT $$?$$ [x] $fn$ LANGUAGE sql', 0),
      mysql: ok('CREATE FUNCTION f() RETURNS int AS $fn$ SELECT $$?$$ `x` $fn$ LANGUAGE sql', 1),
      sqlite: err('placeholder', 49),
    },
  },
  {
    name: '$ inside an identifier is neither a dollar quote nor a placeholder',
    sql: 'SELECT a$b$, x$1 FROM t WHERE c = ?',
    expect: {
      postgres: ok('SELECT a$b$, x$1 FROM t WHERE c = $1', 1),
      mysql: ok('SELECT a$b$, x$1 FROM t WHERE c = ?', 1),
      sqlite: ok('SELECT a$b$, x$1 FROM t WHERE c = ?', 1),
    },
  },
  {
    name: ':: casts confuse nothing',
    sql: 'SELECT [a]::text, ?::int, $$x$$::text',
    expect: {
      postgres: ok('SELECT "a"::text, $1::int, $$x$$::text', 1),
      mysql: ok('SELECT `a`::text, ?::int, $$x$$::text', 1),
      sqlite: ok('SELECT "a"::text, ?::int, $$x$$::text', 1),
    },
  },
  {
    name: 'array subscripts, constructors and types keep their brackets',
    sql: 'SELECT arr[1], arr[i], f(x)[2], "c"[1], [c][1], ARRAY[1,2], array [[a,b],[c,d]], x::int[], [t].[a] FROM [t]',
    expect: {
      postgres: ok('SELECT arr[1], arr[i], f(x)[2], "c"[1], "c"[1], ARRAY[1,2], array [[a,b],[c,d]], x::int[], "t"."a" FROM "t"', 0),
      mysql: ok('SELECT arr[1], arr[i], f(x)[2], "c"[1], `c`[1], ARRAY[1,2], array [[a,b],[c,d]], x::int[], `t`.`a` FROM `t`', 0),
      sqlite: ok('SELECT arr[1], arr[i], f(x)[2], "c"[1], "c"[1], ARRAY[1,2], array [[a,b],[c,d]], x::int[], "t"."a" FROM "t"', 0),
    },
  },
  {
    name: 'brackets without a letter inside are array syntax; after a dot a keyword can be subscripted',
    sql: 'SELECT arr [1:2], arr [$1], t.from[1], int []',
    expect: {
      postgres: ok('SELECT arr [1:2], arr [$1], t.from[1], int []', 1),
      mysql: ok('SELECT arr [1:2], arr [$1], t.from[1], int []', 0),
      sqlite: ok('SELECT arr [1:2], arr [$1], t.from[1], int []', -1),
    },
  },
  {
    name: 'a bracket straight after a keyword is an identifier',
    sql: 'SELECT[a]FROM[t]WHERE[b]=?',
    expect: {
      postgres: ok('SELECT"a"FROM"t"WHERE"b"=$1', 1),
      mysql: ok('SELECT`a`FROM`t`WHERE`b`=?', 1),
      sqlite: ok('SELECT"a"FROM"t"WHERE"b"=?', 1),
    },
  },
  {
    name: 'SQLite native ?NNN, :name, @name, $name placeholders pass through',
    sql: 'SELECT * FROM t WHERE a = :a AND b = @b AND c = $c',
    expect: {
      postgres: ok('SELECT * FROM t WHERE a = :a AND b = @b AND c = $c', 0),
      mysql: ok('SELECT * FROM t WHERE a = :a AND b = @b AND c = $c', 0),
      sqlite: ok('SELECT * FROM t WHERE a = :a AND b = @b AND c = $c', -1),
    },
  },
  {
    name: '?NNN is native on SQLite and ambiguous elsewhere',
    sql: 'SELECT ?2, ?1',
    expect: {
      postgres: err('placeholder', 7),
      mysql: err('placeholder', 7),
      sqlite: ok('SELECT ?2, ?1', 2),
    },
  },
  {
    name: 'empty statement',
    sql: '',
    expect: { postgres: ok('', 0), mysql: ok('', 0), sqlite: ok('', 0) },
  },
  {
    name: 'non-ASCII identifiers and text',
    sql: "SELECT [größe], 'ü?' FROM [表] WHERE [ä] = ?",
    expect: {
      postgres: ok(`SELECT "größe", 'ü?' FROM "表" WHERE "ä" = $1`, 1),
      mysql: ok("SELECT `größe`, 'ü?' FROM `表` WHERE `ä` = ?", 1),
      sqlite: ok(`SELECT "größe", 'ü?' FROM "表" WHERE "ä" = ?`, 1),
    },
  },
  // Errors
  {
    name: 'unterminated string literal',
    sql: "SELECT 'abc",
    expect: {
      postgres: err('string literal', 7),
      mysql: err('string literal', 7),
      sqlite: err('string literal', 7),
    },
  },
  {
    name: 'unterminated "..."',
    sql: 'SELECT "abc',
    expect: {
      postgres: err('quoted identifier', 7),
      mysql: err('quoted identifier', 7),
      sqlite: err('quoted identifier', 7),
    },
  },
  {
    name: 'unterminated backtick identifier',
    sql: 'SELECT 1, `abc',
    expect: {
      postgres: err('quoted identifier', 10),
      mysql: err('quoted identifier', 10),
      sqlite: err('quoted identifier', 10),
    },
  },
  {
    name: 'unterminated block comment',
    sql: 'SELECT 1 /* abc',
    expect: {
      postgres: err('block comment', 9),
      mysql: err('block comment', 9),
      sqlite: err('block comment', 9),
    },
  },
  {
    name: 'a nested block comment left open on PostgreSQL',
    sql: 'SELECT 1 /* a /* b */',
    expect: {
      postgres: err('block comment', 9),
      mysql: ok('SELECT 1 /* a /* b */', 0),
      sqlite: ok('SELECT 1 /* a /* b */', 0),
    },
  },
  {
    name: 'unterminated dollar quote',
    sql: 'SELECT $body$ abc $$',
    expect: {
      postgres: err('dollar quote', 7),
      mysql: ok('SELECT $body$ abc $$', 0),
      sqlite: ok('SELECT $body$ abc $$', -1),
    },
  },
  {
    name: 'unterminated bracket identifier',
    sql: 'SELECT [abc',
    expect: {
      postgres: err('bracket identifier', 7),
      mysql: err('bracket identifier', 7),
      sqlite: err('bracket identifier', 7),
    },
  },
  {
    name: '? after a native placeholder',
    sql: 'SELECT $1, ?',
    expect: {
      postgres: err('placeholder', 11),
      mysql: ok('SELECT $1, ?', 1),
      sqlite: err('placeholder', 11),
    },
  },
  {
    name: 'native placeholder after ?',
    sql: 'SELECT ?, $2',
    expect: {
      postgres: err('placeholder', 10),
      mysql: ok('SELECT ?, $2', 1),
      sqlite: err('placeholder', 10),
    },
  },
  {
    name: '$0 is not a PostgreSQL placeholder number',
    sql: 'SELECT $0',
    expect: {
      postgres: err('placeholder', 7),
      mysql: ok('SELECT $0', 0),
      sqlite: ok('SELECT $0', -1),
    },
  },
];

const dialects: readonly BuiltinDialect[] = ['postgres', 'mysql', 'sqlite'];

describe('golden translations', () => {
  for (const c of cases) {
    for (const dialect of dialects) {
      const expected = c.expect[dialect];
      it(`${dialect}: ${c.name}`, () => {
        if ('sql' in expected) {
          const compiled = compile(c.sql, dialect);
          expect(compiled.sql).toBe(expected.sql);
          expect(compiled.parameterCount).toBe(expected.count);
        } else {
          let thrown: unknown;
          try {
            compile(c.sql, dialect);
          } catch (e) {
            thrown = e;
          }
          expect(thrown).toBeInstanceOf(TranslationError);
          const error = thrown as TranslationError;
          expect(error.construct).toBe(expected.error);
          expect(error.position).toBe(expected.at);
          expect(error.dialect).toBe(dialect);
          expect(error.message).toContain(`offset ${expected.at}`);
        }
      });
    }
  }
});
