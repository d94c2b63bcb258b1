import { execFileSync, spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { translate, type BuiltinDialect } from '../src/index.js';

/**
 * Runs translated statements on the real servers through their command-line clients (this
 * package has no database driver), proving the output is valid native SQL with the intended
 * meaning. Parameters are bound with PREPARE/EXECUTE (PostgreSQL, MariaDB) or `.param` (SQLite).
 */

const PG_URL = process.env['DAL_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
const MYSQL_URL = new URL(process.env['DAL_MYSQL_URL'] ?? 'mysql://root@127.0.0.1:3306/test');
const TABLE = 'sql_translate_items';

// Locally a missing command-line client skips its tests; in CI (CI=true) it fails them instead.
const has = (bin: string): boolean => process.env['CI'] === 'true' || spawnSync(bin, ['--version'], { timeout: 5_000 }).status === 0;
const literal = (value: string | number): string =>
  typeof value === 'number' ? String(value) : `'${value.replaceAll("'", "''")}'`;

function run(bin: string, args: string[], script: string): string {
  return execFileSync(bin, args, { input: script, timeout: 15_000, encoding: 'utf8' }).trimEnd();
}

// A statement may end in a `--` comment, so the terminating `;` goes on its own line.
/** Runs setup statements, then one parameterised query; returns its rows as `|`-separated lines. */
const clients: Record<BuiltinDialect, { available: boolean; query: (setup: string[], sql: string, params: (string | number)[]) => string }> = {
  postgres: {
    available: has('psql'),
    query: (setup, sql, params) => {
      const execute = params.length === 0 ? 'EXECUTE q;' : `EXECUTE q(${params.map(literal).join(', ')});`;
      const script = [...setup.map((s) => s + ';'), `PREPARE q AS ${sql}\n;`, execute].join('\n');
      return run('psql', [PG_URL, '-X', '-q', '-A', '-t', '-F', '|', '-v', 'ON_ERROR_STOP=1'], script);
    },
  },
  mysql: {
    available: has('mysql'),
    query: (setup, sql, params) => {
      const mysqlString = (s: string): string => `'${s.replaceAll('\\', '\\\\').replaceAll("'", "''")}'`;
      const vars = params.map((_, i) => `@p${i}`);
      const script = [
        ...setup.map((s) => s + ';'),
        ...params.map((p, i) => `SET @p${i} = ${typeof p === 'number' ? p : mysqlString(p)};`),
        `PREPARE q FROM ${mysqlString(sql)};`,
        params.length === 0 ? 'EXECUTE q;' : `EXECUTE q USING ${vars.join(', ')};`,
      ].join('\n');
      const args = ['-h', MYSQL_URL.hostname, '-P', MYSQL_URL.port || '3306', '-u', decodeURIComponent(MYSQL_URL.username || 'root')];
      if (MYSQL_URL.password !== '') args.push(`-p${decodeURIComponent(MYSQL_URL.password)}`);
      args.push('-N', '-B', '-r', MYSQL_URL.pathname.slice(1) || 'test');
      return run('mysql', args, script).replaceAll('\t', '|');
    },
  },
  sqlite: {
    available: has('sqlite3'),
    query: (setup, sql, params) => {
      const script = [
        ...setup.map((s) => s + ';'),
        ...params.map((p, i) => `.param set ?${i + 1} ${literal(p)}`),
        sql + '\n;',
      ].join('\n');
      return run('sqlite3', ['-bail', ':memory:'], script);
    },
  },
};

const portableSetup = [
  `DROP TABLE IF EXISTS [${TABLE}]`,
  `CREATE TABLE [${TABLE}] ([id] INT PRIMARY KEY, [col name] VARCHAR(50), [a"b] VARCHAR(50), [x]]y] VARCHAR(50), [q\`t] VARCHAR(50))`,
  `INSERT INTO [${TABLE}] ([id], [col name], [a"b], [x]]y], [q\`t]) VALUES (1, 'one -- ?', 'quote "?"', '[not] ?', 'tick'), (2, 'two', 'b', 'c', 'd')`,
];

afterAll(() => {
  const drop = `DROP TABLE IF EXISTS [${TABLE}]`;
  for (const dialect of ['postgres', 'mysql'] as const) {
    if (clients[dialect].available) clients[dialect].query([translate(drop, dialect).sql], 'SELECT 1', []);
  }
}, 30_000);

describe.each(['postgres', 'mysql', 'sqlite'] as const)('on a real %s server', (dialect) => {
  const client = clients[dialect];
  const setup = portableSetup.map((s) => translate(s, dialect).sql);

  it.skipIf(!client.available)(
    'creates, fills and reads a table through bracket identifiers and ? placeholders',
    () => {
      const { sql, params } = translate(
        `SELECT [id], [col name], [a"b], [x]]y], [q\`t], '?' FROM [${TABLE}] WHERE [id] = ? /* ? */ AND [col name] LIKE ? -- ?`,
        dialect,
        [1, 'one%'],
      );
      expect(client.query(setup, sql, params as (string | number)[])).toBe('1|one -- ?|quote "?"|[not] ?|tick|?');
    },
    30_000,
  );

  it.skipIf(!client.available)(
    'keeps placeholders in order',
    () => {
      const { sql, params } = translate('SELECT ? AS [first], ? AS [second], ? AS [third]', dialect, ['a', 'b', 'c']);
      expect(client.query([], sql, params as string[])).toBe('a|b|c');
    },
    30_000,
  );
});

describe('PostgreSQL-only constructs on the real server', () => {
  const pg = clients.postgres;

  it.skipIf(!pg.available)(
    '?? becomes the JSONB ? operators',
    () => {
      const { sql, params } = translate(
        `SELECT CAST(? AS jsonb) ?? 'a', CAST(? AS jsonb) ??| ARRAY['x','b'], CAST(? AS jsonb) ??& ARRAY['a','z']`,
        'postgres',
        ['{"a":1}', '{"b":1}', '{"a":1}'],
      );
      expect(pg.query([], sql, params as string[])).toBe('t|t|f');
    },
    30_000,
  );

  it.skipIf(!pg.available)(
    'leaves dollar-quoted bodies, E strings, casts and arrays alone',
    () => {
      const { sql, params } = translate(
        `SELECT $$[x] ?$$, $t$ $$ ? $t$, E'it\\'s [y] ?', ?::int + 1, (ARRAY[10,20,30])[2], ARRAY[[1,2],[3,4]]::int[]`,
        'postgres',
        [41],
      );
      expect(pg.query([], sql, params as number[])).toBe("[x] ?| $$ ? |it's [y] ?|42|20|{{1,2},{3,4}}");
    },
    30_000,
  );
});

describe('MySQL-only constructs on the real server', () => {
  const mysql = clients.mysql;

  it.skipIf(!mysql.available)(
    'leaves backslash-escaped strings, "..." strings and # comments alone',
    () => {
      const { sql, params } = translate(`SELECT 'it\\'s [x] ?', "say \\"[y]\\" ?", ? # [z] ?\n`, 'mysql', ['p']);
      expect(mysql.query([], sql, params as string[])).toBe(`it's [x] ?|say "[y]" ?|p`);
    },
    30_000,
  );
});
