import { createRequire } from 'node:module';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ConfigError, ConnectionError, DatabaseConfig, QueryError, UniqueViolationError, type DriverConnection, type DriverExecuteOptions } from '@dal/core';
import { createSqliteDriver, sqliteDialect, toSqliteParams, SqliteConnection, SqliteWorkerConnection, type SqliteMode } from '../src/index.js';
import { tempDir } from './helpers.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

const OBJECTS: DriverExecuteOptions = { rowMode: 'object', timeoutMs: 5000 };
const ARRAYS: DriverExecuteOptions = { rowMode: 'array', timeoutMs: 5000 };
// Unbounded enough to run for minutes: only a real cancel ends it in time.
const ENDLESS_CTE = 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000000) SELECT count(*) AS n FROM c';
// A few seconds at most, for worker mode whose abandoned thread runs the statement to its end.
const SLOW_CTE = 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 8000000) SELECT count(*) AS n FROM c';

let fileCounter = 0;
function config(database = tmp.file(`db-${++fileCounter}.db`), extra: Partial<ConstructorParameters<typeof DatabaseConfig>[0]> = {}): DatabaseConfig {
  return new DatabaseConfig({ database, alias: 'sqlite-test', ...extra });
}

const open: DriverConnection[] = [];
async function connect(mode: SqliteMode, cfg = config()): Promise<DriverConnection> {
  const conn = await createSqliteDriver({ mode }).connect(cfg, { signal: AbortSignal.timeout(10_000) });
  open.push(conn);
  return conn;
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => (c.broken ? c.destroy() : c.close())));
});

describe.each(['inline', 'worker', 'process'] as const)('mode %s', (mode) => {
  it('executes statements: rows, array rows, affectedRows, insertId, RETURNING', async () => {
    const conn = await connect(mode);
    await conn.execute('CREATE TABLE driver_sqlite_items (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)', [], OBJECTS);
    const first = await conn.execute('INSERT INTO driver_sqlite_items (name) VALUES (?)', ['a'], OBJECTS);
    expect(first).toMatchObject({ rows: [], affectedRows: 1, insertId: 1 });
    const second = await conn.execute('INSERT INTO driver_sqlite_items (name) VALUES (?), (?)', ['b', 'c'], OBJECTS);
    expect(second).toMatchObject({ affectedRows: 2, insertId: 3 });
    const updated = await conn.execute('UPDATE driver_sqlite_items SET name = name || ? WHERE id > ?', ['!', 1], OBJECTS);
    expect(updated.affectedRows).toBe(2);
    expect(updated.insertId).toBeUndefined();
    const rows = await conn.execute('SELECT id, name FROM driver_sqlite_items ORDER BY id', [], OBJECTS);
    expect(rows.rows).toEqual([{ id: 1, name: 'a' }, { id: 2, name: 'b!' }, { id: 3, name: 'c!' }]);
    expect(rows.affectedRows).toBe(0);
    const tuples = await conn.execute('SELECT id, name FROM driver_sqlite_items WHERE id = ?', [2], ARRAYS);
    expect(tuples.rows).toEqual([[2, 'b!']]);
    const returning = await conn.execute('INSERT INTO driver_sqlite_items (name) VALUES (?) RETURNING id, name', ['d'], OBJECTS);
    expect(returning.rows).toEqual([{ id: 4, name: 'd' }]);
    expect(returning.affectedRows).toBe(1);
    // The same cached statement alternates between object and array rows.
    const again = await conn.execute('SELECT id, name FROM driver_sqlite_items WHERE id = ?', [2], OBJECTS);
    expect(again.rows).toEqual([{ id: 2, name: 'b!' }]);
  });

  it('firstRow reads one row, but a writing RETURNING still runs to the end', async () => {
    const conn = await connect(mode);
    const FIRST = { ...OBJECTS, firstRow: true };
    await conn.execute('CREATE TABLE driver_sqlite_first (id INTEGER PRIMARY KEY, v TEXT NOT NULL)', [], OBJECTS);
    await conn.execute("INSERT INTO driver_sqlite_first (v) VALUES ('a'), ('b'), ('c')", [], OBJECTS);
    expect((await conn.execute('SELECT id, v FROM driver_sqlite_first ORDER BY id', [], FIRST)).rows).toEqual([{ id: 1, v: 'a' }]);
    expect((await conn.execute('SELECT id FROM driver_sqlite_first ORDER BY id DESC', [], { ...ARRAYS, firstRow: true })).rows).toEqual([[3]]);
    expect((await conn.execute('SELECT id FROM driver_sqlite_first WHERE id > 99', [], FIRST)).rows).toEqual([]);
    const returning = await conn.execute("INSERT INTO driver_sqlite_first (v) VALUES ('d'), ('e') RETURNING id", [], FIRST);
    expect(returning.affectedRows).toBe(2);
    expect((await conn.execute('SELECT count(*) AS n FROM driver_sqlite_first', [], OBJECTS)).rows).toEqual([{ n: 5 }]);
  });

  it('round-trips parameter types', async () => {
    const conn = await connect(mode);
    const date = new Date('2024-05-06T07:08:09.010Z');
    const blob = Buffer.from([0, 1, 2, 254, 255]);
    const big = 2n ** 62n;
    const { rows } = await conn.execute<Record<string, unknown>>(
      'SELECT ? AS s, ? AS n, ? AS f, ? AS t, ? AS fa, ? AS d, ? AS nul, ? AS und, ? AS blob, ? AS u8, ? AS obj, ? AS arr, typeof(?) AS bigtype, ? AS big',
      ['héllo', 42, 1.5, true, false, date, null, undefined, blob, new Uint8Array([9, 8]), { a: [1, 'x'] }, [1, 2], big, big],
      OBJECTS,
    );
    const row = rows[0] as Record<string, unknown>;
    expect(row).toMatchObject({ s: 'héllo', n: 42, f: 1.5, t: 1, fa: 0, d: '2024-05-06T07:08:09.010Z', nul: null, und: null });
    expect(Buffer.isBuffer(row.blob)).toBe(true);
    expect(row.blob).toEqual(blob);
    expect(Buffer.isBuffer(row.u8)).toBe(true);
    expect([...(row.u8 as Buffer)]).toEqual([9, 8]);
    expect(JSON.parse(row.obj as string)).toEqual({ a: [1, 'x'] });
    expect(row.arr).toBe('[1,2]');
    expect(row.bigtype).toBe('integer');
    expect(row.big).toBe(big);
    const arrays = await conn.execute('SELECT ? AS blob', [blob], ARRAYS);
    expect(Buffer.isBuffer((arrays.rows[0] as unknown[])[0])).toBe(true);
  });

  it('reads integers exactly: numbers while exact, bigints beyond 2^53, never rounded', async () => {
    const conn = await connect(mode);
    await conn.execute('CREATE TABLE driver_sqlite_ints (id INTEGER PRIMARY KEY, i INTEGER, big BIGINT, r REAL, t TEXT)', [], OBJECTS);
    const values = [1, -42, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 2n ** 53n, 2n ** 53n + 1n, 2n ** 63n - 1n, -(2n ** 63n)];
    for (const [n, value] of values.entries()) {
      await conn.execute('INSERT INTO driver_sqlite_ints (id, i, big, r, t) VALUES (?, ?, ?, ?, ?)', [n + 1, value, value, 0.5, 'x'], OBJECTS);
    }
    const objects = await conn.execute('SELECT i, big, r, t FROM driver_sqlite_ints ORDER BY id', [], OBJECTS);
    expect(objects.rows).toEqual(values.map((v) => ({ i: v, big: v, r: 0.5, t: 'x' })));
    const tuples = await conn.execute('SELECT i, big FROM driver_sqlite_ints ORDER BY id', [], ARRAYS);
    expect(tuples.rows).toEqual(values.map((v) => [v, v]));
    for (const [n, value] of values.entries()) {
      const first = await conn.execute('SELECT big FROM driver_sqlite_ints WHERE id = ?', [n + 1], { ...OBJECTS, firstRow: true });
      expect(first.rows).toEqual([{ big: value }]);
    }
    // A REAL beyond 2^53 looks like a rounded integer when read as a double: it stays a number.
    const real = await conn.execute('SELECT 1e20 AS r, -1e20 AS n, 9007199254740993 AS i', [], OBJECTS);
    expect(real.rows).toEqual([{ r: 1e20, n: -1e20, i: 9007199254740993n }]);
    // Expressions (no declared type), RETURNING and insertId alike.
    const expression = await conn.execute('SELECT max(big) AS top, count(*) AS n, 9007199254740993 AS literal FROM driver_sqlite_ints', [], OBJECTS);
    expect(expression.rows).toEqual([{ top: 2n ** 63n - 1n, n: values.length, literal: 9007199254740993n }]);
    const inserted = await conn.execute('INSERT INTO driver_sqlite_ints (id) VALUES (?)', [2n ** 53n + 1n], OBJECTS);
    expect(inserted.insertId).toBe(2n ** 53n + 1n);
    const returning = await conn.execute('INSERT INTO driver_sqlite_ints (i) VALUES (7) RETURNING id, i', [], OBJECTS);
    expect(returning.rows).toEqual([{ id: 2n ** 53n + 2n, i: 7 }]);
    const small = await conn.execute('INSERT INTO driver_sqlite_ints (id) VALUES (?)', [-5], OBJECTS);
    expect(small.insertId).toBe(-5);
  });

  it('returns bigints with safeIntegers', async () => {
    const conn = await createSqliteDriver({ mode, safeIntegers: true }).connect(config(), { signal: AbortSignal.timeout(10_000) });
    open.push(conn);
    const { rows } = await conn.execute('SELECT ? AS big, 1 AS small', [2n ** 62n + 1n], OBJECTS);
    expect(rows).toEqual([{ big: 2n ** 62n + 1n, small: 1n }]);
  });

  it('maps errors to DalErrors carrying the SQL', async () => {
    const conn = await connect(mode);
    await conn.execute('CREATE TABLE driver_sqlite_u (k TEXT PRIMARY KEY)', [], OBJECTS);
    await conn.execute('INSERT INTO driver_sqlite_u VALUES (?)', ['secret-k'], OBJECTS);
    const error = await conn.execute('INSERT INTO driver_sqlite_u VALUES (?)', ['secret-k'], OBJECTS).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UniqueViolationError);
    expect((error as QueryError).vendorCode).toBe('SQLITE_CONSTRAINT_PRIMARYKEY');
    expect((error as QueryError).sql).toBe('INSERT INTO driver_sqlite_u VALUES (?)');
    expect((error as Error).message).not.toContain('secret-k');
    const syntax = await conn.execute('SELEC 1', [], OBJECTS).catch((e: unknown) => e);
    expect(syntax).toBeInstanceOf(QueryError);
    const binding = await conn.execute('SELECT ?', [1, 2], OBJECTS).catch((e: unknown) => e);
    expect(binding).toBeInstanceOf(QueryError);
    // Still usable after errors.
    expect((await conn.execute('SELECT 1 AS one', [], OBJECTS)).rows).toEqual([{ one: 1 }]);
  });

  it('applies the pragmas, runs scripts, savepoints and reports the version', async () => {
    const conn = await connect(mode);
    expect((await conn.execute('PRAGMA journal_mode', [], ARRAYS)).rows).toEqual([['wal']]);
    expect((await conn.execute('PRAGMA foreign_keys', [], ARRAYS)).rows).toEqual([[1]]);
    // Inline connections wait for locks asynchronously (their own retries); SQLite's handler would block the thread.
    expect((await conn.execute('PRAGMA busy_timeout', [], ARRAYS)).rows).toEqual([[mode === 'inline' ? 0 : 5000]]);
    expect((await conn.execute('PRAGMA synchronous', [], ARRAYS)).rows).toEqual([[1]]);
    await conn.execute('CREATE TABLE driver_sqlite_sp (x INT); CREATE INDEX driver_sqlite_sp_x ON driver_sqlite_sp (x)', [], OBJECTS);
    for (const sql of sqliteDialect.beginTransactionSql('read committed')) await conn.execute(sql, [], OBJECTS);
    await conn.execute('INSERT INTO driver_sqlite_sp VALUES (1)', [], OBJECTS);
    await conn.execute(sqliteDialect.savepointSql('sp 1'), [], OBJECTS);
    await conn.execute('INSERT INTO driver_sqlite_sp VALUES (2)', [], OBJECTS);
    await conn.execute(sqliteDialect.rollbackToSavepointSql('sp 1'), [], OBJECTS);
    await conn.execute(sqliteDialect.releaseSavepointSql!('sp 1'), [], OBJECTS);
    await conn.execute('COMMIT', [], OBJECTS);
    expect((await conn.execute('SELECT x FROM driver_sqlite_sp', [], ARRAYS)).rows).toEqual([[1]]);
    const version = await conn.serverVersion();
    expect(version).toMatch(/^3\.\d+\.\d+$/);
    expect(version).toBe(new Database(':memory:').prepare('SELECT sqlite_version()').pluck().get());
    await conn.ping({ signal: AbortSignal.timeout(1000) });
    expect(conn.broken).toBe(false);
    await conn.close();
    expect(conn.broken).toBe(true);
    await expect(conn.execute('SELECT 1', [], OBJECTS)).rejects.toBeInstanceOf(ConnectionError);
  });

  it('rejects a file it cannot open with a non-retryable ConnectionError', async () => {
    const missing = tmp.file('does-not-exist.db');
    const driver = createSqliteDriver({ mode, fileMustExist: true });
    const error = await driver.connect(config(missing), { signal: AbortSignal.timeout(5000) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectionError);
    expect((error as ConnectionError).retryable).toBe(false);
    expect((error as Error).message).toContain('sqlite-test');
    expect((error as Error).message).toContain(missing);
  });

  // Inline connections share one thread: a busy wait would block the connection holding the lock,
  // which is why inline mode defaults to a pool of one (checked in 'driver' below).
  if (mode !== 'inline') it('keeps concurrent transactions on several connections consistent', async () => {
    const cfg = config();
    const conns = await Promise.all([1, 2, 3, 4].map(() => connect(mode, cfg)));
    await conns[0]!.execute('CREATE TABLE driver_sqlite_counter (id INTEGER PRIMARY KEY, n INT NOT NULL)', [], OBJECTS);
    await conns[0]!.execute('INSERT INTO driver_sqlite_counter VALUES (1, 0)', [], OBJECTS);
    await Promise.all(
      conns.map(async (conn) => {
        for (let i = 0; i < 25; i++) {
          await conn.execute('BEGIN IMMEDIATE', [], OBJECTS);
          const [row] = (await conn.execute('SELECT n FROM driver_sqlite_counter WHERE id = 1', [], ARRAYS)).rows as number[][];
          await conn.execute('UPDATE driver_sqlite_counter SET n = ? WHERE id = 1', [row![0]! + 1], OBJECTS);
          await conn.execute('COMMIT', [], OBJECTS);
        }
      }),
    );
    expect((await conns[1]!.execute('SELECT n FROM driver_sqlite_counter', [], ARRAYS)).rows).toEqual([[100]]);
  });
});

describe.each(['worker', 'process'] as const)('cancel in mode %s', (mode) => {
  it('rejects a running statement within 200 ms while the event loop keeps ticking', async () => {
    const conn = await connect(mode, config(tmp.file(`cancel-${mode}.db`)));
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    try {
      const running = conn.execute(mode === 'process' ? ENDLESS_CTE : SLOW_CTE, [], OBJECTS);
      const settled = running.then(
        () => 'resolved',
        (e: unknown) => e,
      );
      await new Promise((r) => setTimeout(r, 300));
      expect(ticks).toBeGreaterThanOrEqual(10);
      const started = performance.now();
      await conn.cancel();
      const error = await settled;
      const elapsed = performance.now() - started;
      expect(elapsed).toBeLessThan(200);
      expect(error).toBeInstanceOf(QueryError);
      expect((error as QueryError).vendorCode).toBe('SQLITE_INTERRUPT');
      expect(conn.broken).toBe(true);
      await expect(conn.execute('SELECT 1', [], OBJECTS)).rejects.toBeInstanceOf(ConnectionError);
    } finally {
      clearInterval(timer);
    }
  });

  it('keeps committed data and rolls back the unfinished transaction of a cancelled connection', async () => {
    const cfg = config(tmp.file(`rollback-${mode}.db`));
    const conn = await connect(mode, cfg);
    await conn.execute('CREATE TABLE driver_sqlite_kept (v TEXT)', [], OBJECTS);
    await conn.execute('INSERT INTO driver_sqlite_kept VALUES (?)', ['committed'], OBJECTS);
    await conn.execute('BEGIN IMMEDIATE', [], OBJECTS);
    await conn.execute('INSERT INTO driver_sqlite_kept VALUES (?)', ['uncommitted'], OBJECTS);
    const running = conn.execute(mode === 'process' ? ENDLESS_CTE : SLOW_CTE, [], OBJECTS).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 100));
    await conn.cancel();
    expect(await running).toBeInstanceOf(QueryError);
    const other = await connect(mode, cfg);
    expect((await other.execute('SELECT v FROM driver_sqlite_kept', [], ARRAYS)).rows).toEqual([['committed']]);
  });

  // Only a process can be killed mid-statement; a worker thread runs on (see the README).
  if (mode === 'process') it('really stops the statement: its write lock is free right after cancel', async () => {
    const cfg = config(tmp.file('lock.db'));
    const conn = await connect(mode, cfg);
    await conn.execute('CREATE TABLE driver_sqlite_lock (x INT)', [], OBJECTS);
    await conn.execute('BEGIN IMMEDIATE', [], OBJECTS);
    const running = conn.execute(`INSERT INTO driver_sqlite_lock ${ENDLESS_CTE.replace('count(*) AS n', 'x')}`, [], OBJECTS).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 200));
    const other = await createSqliteDriver({ mode: 'inline', busyTimeoutMs: 0 }).connect(cfg, { signal: AbortSignal.timeout(5000) });
    open.push(other);
    await expect(other.execute('BEGIN IMMEDIATE', [], OBJECTS)).rejects.toMatchObject({ vendorCode: 'SQLITE_BUSY' });
    await conn.cancel();
    await running;
    await other.execute('BEGIN IMMEDIATE', [], OBJECTS);
    expect((await other.execute('SELECT count(*) FROM driver_sqlite_lock', [], ARRAYS)).rows).toEqual([[0]]);
    await other.execute('ROLLBACK', [], OBJECTS);
  });

  it('reports broken, without an unhandled error, when the host dies under it', async () => {
    const conn = await connect(mode);
    if (mode === 'process') {
      const pid = (conn as SqliteWorkerConnection).pid as number;
      const running = conn.execute(ENDLESS_CTE, [], OBJECTS).catch((e: unknown) => e);
      await new Promise((r) => setTimeout(r, 50));
      process.kill(pid, 'SIGKILL');
      const error = await running;
      expect(error).toBeInstanceOf(ConnectionError);
      expect((error as ConnectionError).retryable).toBe(true);
    } else {
      conn.destroy();
      await expect(conn.execute('SELECT 1', [], OBJECTS)).rejects.toBeInstanceOf(ConnectionError);
    }
    expect(conn.broken).toBe(true);
  });

  it('stops connecting promptly when the signal aborts', async () => {
    const driver = createSqliteDriver({ mode });
    const controller = new AbortController();
    const pending = driver.connect(config(), { signal: controller.signal }).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 5));
    const started = performance.now();
    controller.abort(new Error('deadline'));
    const error = await pending;
    expect(performance.now() - started).toBeLessThan(100);
    expect(error).toBeInstanceOf(ConnectionError);
    expect((error as Error).message).toContain('sqlite-test');
    await expect(driver.connect(config(), { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(ConnectionError);
  });
});

describe('driver', () => {
  it('declares capabilities per mode and pool sizes per database kind', () => {
    expect(createSqliteDriver().mode).toBeUndefined(); // inline unless a config's driverOptions say otherwise
    // Inline connections cancel a wait for a lock (their statements run synchronously, with no timer).
    expect(createSqliteDriver({ mode: 'inline' }).capabilities).toEqual({ cancel: true, savepoints: true, transactionalDdl: true, returning: true, sync: true, multiRowInsert: true });
    expect(createSqliteDriver({ mode: 'worker' }).capabilities.cancel).toBe(true);
    const driver = createSqliteDriver();
    expect(driver.specVersion).toBe('v1');
    expect(driver.clientName).toBe(`better-sqlite3 ${(createRequire(import.meta.url)('better-sqlite3/package.json') as { version: string }).version}`);
    expect(driver.defaultPoolSize(config(':memory:'))).toEqual({ min: 1, max: 1 });
    expect(driver.defaultPoolSize(config())).toEqual({ min: 1, max: 1 });
    expect(driver.defaultPoolSize(config(undefined, { driverOptions: { mode: 'process' } }))).toEqual({ min: 1, max: 4 });
    expect(createSqliteDriver({ mode: 'inline' }).defaultPoolSize(config())).toEqual({ min: 1, max: 1 });
    expect(driver.defaultPoolSize(config(undefined, { driverOptions: { mode: 'inline' } }))).toEqual({ min: 1, max: 1 });
  });

  it('runs file and in-memory databases inline by default; a config may ask for a process', async () => {
    const file = await createSqliteDriver().connect(config(), { signal: AbortSignal.timeout(10_000) });
    const memory = await createSqliteDriver().connect(config(':memory:'), { signal: AbortSignal.timeout(5000) });
    const child = await createSqliteDriver().connect(config(undefined, { driverOptions: { mode: 'process' } }), { signal: AbortSignal.timeout(10_000) });
    open.push(file, memory, child);
    expect(file).toBeInstanceOf(SqliteConnection);
    expect(memory).toBeInstanceOf(SqliteConnection);
    expect(child).toBeInstanceOf(SqliteWorkerConnection);
    expect((child as SqliteWorkerConnection).pid).toBeGreaterThan(0);
    // Without a fixed mode the driver may meet a process-mode config, so it declares cancel.
    expect(createSqliteDriver().capabilities.cancel).toBe(true);
  });

  it('refuses a TLS setting with ConfigError in every mode: an embedded database has no connection to encrypt', async () => {
    const withTls = new DatabaseConfig({ database: ':memory:', alias: 'tls_on_sqlite', tls: { mode: 'require' } });
    for (const mode of ['inline', 'worker', 'process'] as const) {
      await expect(createSqliteDriver({ mode }).connect(withTls, { signal: AbortSignal.timeout(5000) })).rejects.toThrow(ConfigError);
    }
    expect(() => createSqliteDriver().connectSync(withTls)).toThrow(/SQLite is embedded and takes no "tls" setting/);
  });

  it('reads the mode from config.driverOptions and validates options', async () => {
    const conn = await createSqliteDriver({ mode: 'process' }).connect(config(':memory:', { driverOptions: { mode: 'inline' } }), { signal: AbortSignal.timeout(5000) });
    open.push(conn);
    expect(conn).not.toBeInstanceOf(SqliteWorkerConnection);
    await expect(createSqliteDriver().connect(config(undefined, { driverOptions: { mode: 'threads' } }), { signal: AbortSignal.timeout(5000) })).rejects.toBeInstanceOf(ConfigError);
    expect(() => createSqliteDriver({ pragmas: { 'cache_size; DROP TABLE x': 1 } }).connectSync(config())).toThrow(ConfigError);
  });

  it('gives a synchronous connection', () => {
    const cfg = config();
    const conn = createSqliteDriver().connectSync(cfg);
    try {
      conn.execute('CREATE TABLE driver_sqlite_sync (id INTEGER PRIMARY KEY, v TEXT UNIQUE)', [], OBJECTS);
      expect(conn.execute('INSERT INTO driver_sqlite_sync (v) VALUES (?)', ['a'], OBJECTS)).toMatchObject({ affectedRows: 1, insertId: 1 });
      expect(conn.execute('SELECT id, v FROM driver_sqlite_sync', [], ARRAYS).rows).toEqual([[1, 'a']]);
      expect(() => conn.execute('INSERT INTO driver_sqlite_sync (v) VALUES (?)', ['a'], OBJECTS)).toThrow(UniqueViolationError);
      expect(conn.serverVersion()).toMatch(/^3\./);
    } finally {
      conn.close();
    }
  });

  it('an in-memory database is per connection and pragmas apply', () => {
    const conn = createSqliteDriver({ pragmas: { cache_size: -4000 } }).connectSync(config(':memory:'));
    try {
      expect(conn.execute('PRAGMA cache_size', [], ARRAYS).rows).toEqual([[-4000]]);
      expect(conn.execute('PRAGMA journal_mode', [], ARRAYS).rows).toEqual([['memory']]);
    } finally {
      conn.close();
    }
  });
});

describe('toSqliteParams', () => {
  it('returns the same array when nothing needs converting', () => {
    const params = ['a', 1, 2n, null, Buffer.from('x')];
    expect(toSqliteParams(params)).toBe(params);
  });
  it('converts only what better-sqlite3 rejects', () => {
    const params = ['a', true, undefined, new Date(0)];
    expect(toSqliteParams(params)).toEqual(['a', 1, null, '1970-01-01T00:00:00.000Z']);
    expect(params[1]).toBe(true);
  });
});

describe('built package', () => {
  it.each(['index.js', 'index.cjs'])('dist/%s runs a worker-mode query', async (entry) => {
    const url = new URL(`../dist/${entry}`, import.meta.url);
    const mod = (entry.endsWith('.cjs') ? createRequire(import.meta.url)(url.pathname) : await import(url.href)) as typeof import('../src/index.js');
    const conn = await mod.createSqliteDriver({ mode: 'worker' }).connect(config(), { signal: AbortSignal.timeout(10_000) });
    open.push(conn);
    expect((await conn.execute('SELECT 40 + ? AS n', [2], OBJECTS)).rows).toEqual([{ n: 42 }]);
  });
});
