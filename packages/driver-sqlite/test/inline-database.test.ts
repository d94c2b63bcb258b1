import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  ConnectionReleasedError,
  DatabaseConfig,
  PoolManager,
  QueryError,
  TranslationError,
  UniqueViolationError,
  onDalEvent,
  type Database,
  type DalEvent,
} from '@dal/core';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import BetterSqlite from 'better-sqlite3';
import { SqliteDatabase } from '../src/index.js';
import { tempDir } from './helpers.js';

// The default (inline) mode through core: statements run on the caller's thread, so core acquires,
// runs and releases in one synchronous step (DriverConnection.executeNow) and starts no timer.

const tmp = tempDir();
afterAll(() => tmp.cleanup());

const opened: Database[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((db) => db.close()));
});

let counter = 0;
function database(extra: Partial<ConstructorParameters<typeof DatabaseConfig>[0]> = {}, logger?: { warn: (data: Record<string, unknown>, message: string) => void }): Database {
  counter++;
  const db = new SqliteDatabase(new DatabaseConfig({ database: tmp.file(`inline-${counter}.db`), alias: `inline_${counter}`, ...extra }), logger ? { logger } : {});
  opened.push(db);
  return db;
}

const status = (db: Database) => PoolManager.getPoolStatus(db.config.hash())!;
// About a second of work for SQLite on this machine: far longer than the timeouts below.
const SLOW = 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000) SELECT count(*) AS n FROM c';

describe('inline mode (the default) through core', () => {
  it('is the default for a file, with a pool of one', async () => {
    const db = database();
    await db.execute('SELECT 1');
    expect(status(db).sizes).toMatchObject({ min: 1, max: 1, size: 1 });
    expect(await db.withConnection((conn) => conn.getVersionDetails())).toMatchObject({ dbDriver: expect.stringContaining('better-sqlite3') });
  });

  it('runs, counts and releases a statement before the call returns its promise', async () => {
    const db = database();
    await db.execute('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
    const before = status(db).metrics.queries;
    const pending = db.query('INSERT INTO [t] ([v]) VALUES (?)', ['a']);
    // Nothing awaited yet: the statement already ran and the connection is back.
    expect(status(db).metrics.queries).toBe(before + 1);
    expect(status(db).sizes.inUse).toBe(0);
    expect(await pending).toMatchObject({ affectedRows: 1, insertId: 1 });
  });

  it('64 concurrent callers on its one connection never wait for it', async () => {
    const db = database();
    await db.execute('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
    await db.withConnection((conn) => conn.executeMany('INSERT INTO [t] ([id], [v]) VALUES (?, ?)', Array.from({ length: 64 }, (_, i) => [i + 1, `v${i + 1}`])));
    const rows = await Promise.all(Array.from({ length: 64 }, (_, i) => db.executeFirst<{ v: string }>('SELECT [v] FROM [t] WHERE [id] = ?', [i + 1])));
    expect(rows.map((r) => r?.v)).toEqual(Array.from({ length: 64 }, (_, i) => `v${i + 1}`));
    const metrics = status(db).metrics;
    expect(metrics.acquisitionTimeouts).toBe(0);
    expect(metrics.maxWaitMs).toBe(0);
    expect(status(db).sizes).toMatchObject({ inUse: 0, pending: 0 });
  });

  it('a statement run in place on the idle connection counts as one acquisition, statement and release', async () => {
    const db = database();
    await db.execute('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
    const before = status(db).metrics;
    const events: DalEvent[] = [];
    const off = onDalEvent((event) => {
      if (event.alias === db.alias) events.push(event);
    });
    try {
      await db.execute('INSERT INTO [t] ([v]) VALUES (?)', ['a']);
      await db.executeFirst('SELECT [v] FROM [t] WHERE [id] = ?', [1], { tags: { operation: 'read_t' } });
    } finally {
      off();
    }
    const after = status(db).metrics;
    expect(after.acquisitions - before.acquisitions).toBe(2);
    expect(after.queries - before.queries).toBe(2);
    expect(after.waitTime.count - before.waitTime.count).toBe(2);
    expect((after.waitTime.counts[0] ?? 0) - (before.waitTime.counts[0] ?? 0)).toBe(2);
    expect(after.useTime.count - before.useTime.count).toBe(2);
    expect(after.queryDuration.count - before.queryDuration.count).toBe(2);
    expect(after.operations['read_t']).toMatchObject({ count: 1, errors: 0 });
    expect(after.totalUseMs).toBeGreaterThan(before.totalUseMs);
    expect(after.totalQueryMs - before.totalQueryMs).toBeCloseTo(after.totalUseMs - before.totalUseMs, 6);
    expect(events.map((e) => e.type)).toEqual(['acquire', 'query', 'release', 'acquire', 'query', 'release']);
    expect(events[4]).toMatchObject({ type: 'query', operation: 'read_t', errorCode: undefined });
    expect(status(db).sizes).toMatchObject({ size: 1, idle: 1, inUse: 0 });
  });

  it('untagged statements run in place reach every counter and histogram, with or without event listeners', async () => {
    const db = database();
    await db.execute('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
    await db.execute('INSERT INTO [t] ([v]) VALUES (?)', ['a']);
    const delta = async (run: () => Promise<unknown>) => {
      const before = status(db).metrics;
      await run();
      const after = status(db).metrics;
      const sum = (counts: number[]) => counts.reduce((a, b) => a + b, 0);
      return {
        acquisitions: after.acquisitions - before.acquisitions,
        queries: after.queries - before.queries,
        waits: after.waitTime.count - before.waitTime.count,
        waitsInFirstBucket: (after.waitTime.counts[0] ?? 0) - (before.waitTime.counts[0] ?? 0),
        uses: after.useTime.count - before.useTime.count,
        useBuckets: sum(after.useTime.counts) - sum(before.useTime.counts),
        durations: after.queryDuration.count - before.queryDuration.count,
        durationBuckets: sum(after.queryDuration.counts) - sum(before.queryDuration.counts),
        unknown: (after.operations['unknown']?.count ?? 0) - (before.operations['unknown']?.count ?? 0),
        unknownBuckets: sum(after.operations['unknown']?.duration.counts ?? []) - sum(before.operations['unknown']?.duration.counts ?? []),
        queryMs: after.totalQueryMs - before.totalQueryMs,
        useMs: after.totalUseMs - before.totalUseMs,
        durationMs: after.queryDuration.sumMs - before.queryDuration.sumMs,
        unknownMs: (after.operations['unknown']?.totalMs ?? 0) - (before.operations['unknown']?.totalMs ?? 0),
      };
    };
    const fifty = () => Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? db.executeFirst('SELECT [v] FROM [t] WHERE [id] = ?', [1]) : db.execute('SELECT count(*) AS n FROM t'))));
    const quiet = await delta(fifty);
    const off = onDalEvent(() => undefined);
    let listened;
    try {
      listened = await delta(fifty);
    } finally {
      off();
    }
    for (const counted of [quiet, listened]) {
      expect(counted).toMatchObject({ acquisitions: 50, queries: 50, waits: 50, waitsInFirstBucket: 50, uses: 50, useBuckets: 50, durations: 50, durationBuckets: 50, unknown: 50, unknownBuckets: 50 });
      expect(counted.queryMs).toBeGreaterThan(0);
      for (const ms of [counted.useMs, counted.durationMs, counted.unknownMs]) expect(ms).toBeCloseTo(counted.queryMs, 9);
    }
  });

  it('a statement run in one synchronous step is logged when slow, with its tags and redacted parameters', async () => {
    const logged: Array<{ data: Record<string, unknown>; message: string }> = [];
    const db = database({ slowQueryThresholdMs: 0.001 }, { warn: (data, message) => logged.push({ data, message }) });
    await db.execute('SELECT 1'); // opens the pool: the next statement takes the synchronous step
    const before = status(db).metrics.slowQueries;
    expect(await db.executeFirst('SELECT ? AS [v]', ['secret-77'], { tags: { operation: 'read_v' } })).toEqual({ v: 'secret-77' });
    expect(status(db).metrics.slowQueries).toBe(before + 1);
    expect(logged.at(-1)).toMatchObject({ message: '[dal] slow query', data: { alias: db.alias, tags: { operation: 'read_v' }, params: '[1 redacted]' } });
    expect(JSON.stringify(logged)).not.toContain('secret-77');
  });

  it('a connection past maxLifetimeMs is replaced, not used in place', async () => {
    const db = database({ maxLifetimeMs: 50 });
    await db.execute('CREATE TABLE t (id INTEGER PRIMARY KEY)');
    const { connectionsCreated, connectionsDestroyed } = status(db).metrics;
    // Outlive it without yielding, so that the pool's sweeper cannot replace it first.
    const until = performance.now() + 70;
    while (performance.now() < until);
    const pending = db.execute('SELECT count(*) AS n FROM t');
    // Before the statement's promise settles, the too-old connection is already gone.
    expect(status(db).metrics.connectionsDestroyed).toBe(connectionsDestroyed + 1);
    expect(await pending).toEqual([{ n: 0 }]);
    expect(status(db).metrics.connectionsCreated).toBe(connectionsCreated + 1);
  });

  it('a statement waits for the connection while a caller holds it, and runs in place again after', async () => {
    const db = database();
    await db.execute('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
    const conn = await db.connection();
    await conn.beginTransaction();
    await conn.execute('INSERT INTO [t] ([v]) VALUES (?)', ['in tx']);
    let settled = false;
    const pending = db.execute('SELECT count(*) AS n FROM t').then((rows) => {
      settled = true;
      return rows;
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(settled).toBe(false);
    expect(status(db).sizes.pending).toBe(1);
    await conn.commitTransaction();
    await conn.release();
    expect(await pending).toEqual([{ n: 1 }]);
    expect(status(db).sizes).toMatchObject({ inUse: 0, pending: 0 });
  });

  it('a call made from inside an in-place statement waits for the connection instead of sharing it', async () => {
    const db = database();
    await db.execute('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
    const created = status(db).metrics.connectionsCreated;
    let nested: Promise<unknown> | undefined;
    let inUseDuringNested = -1;
    // better-sqlite3 cannot bind an object: the driver stores it as JSON, calling toJSON mid-statement.
    const value = {
      toJSON() {
        inUseDuringNested = status(db).sizes.inUse;
        nested = db.executeFirst('SELECT count(*) AS n FROM t');
        return 'from toJSON';
      },
    };
    await db.execute('INSERT INTO [t] ([v]) VALUES (?)', [value]);
    expect(inUseDuringNested).toBe(1);
    expect(await nested).toEqual({ n: 1 });
    expect(await db.execute('SELECT [v] FROM [t]')).toEqual([{ v: '"from toJSON"' }]);
    // The same from a read that runs through the connection's prepared reader.
    const read = 'SELECT ? AS [v], count(*) AS [n] FROM [t]';
    expect(await db.executeFirst(read, ['warm'])).toEqual({ v: 'warm', n: 1 });
    inUseDuringNested = -1;
    nested = undefined;
    expect(await db.executeFirst(read, [value])).toEqual({ v: '"from toJSON"', n: 1 });
    expect(inUseDuringNested).toBe(1);
    expect(await nested).toEqual({ n: 1 });
    expect(status(db).metrics.connectionsCreated).toBe(created);
    expect(status(db).sizes).toMatchObject({ size: 1, inUse: 0, pending: 0 });
  });

  it('a PRAGMA read again through a kept prepared statement gives the current value', async () => {
    const db = database();
    expect(await db.executeFirst('PRAGMA foreign_keys')).toEqual({ foreign_keys: 1 });
    await db.execute('PRAGMA foreign_keys = OFF');
    expect(await db.executeFirst('PRAGMA foreign_keys')).toEqual({ foreign_keys: 0 });
    const conn = db.syncConnection();
    expect(conn.executeFirst('PRAGMA foreign_keys')).toEqual({ foreign_keys: 1 });
    conn.execute('PRAGMA foreign_keys = OFF');
    expect(conn.executeFirst('PRAGMA foreign_keys')).toEqual({ foreign_keys: 0 });
    conn.release();
  });

  it('failures are typed, counted and give the connection back', async () => {
    const db = database();
    await db.execute('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE)');
    await db.execute('INSERT INTO [t] ([v]) VALUES (?)', ['a']);
    const errorsBefore = status(db).metrics.queryErrors;
    await expect(db.execute('INSERT INTO [t] ([v]) VALUES (?)', ['a'])).rejects.toBeInstanceOf(UniqueViolationError);
    await expect(db.query('SELECT [v] FROM [t] WHERE [id] = ?', [])).rejects.toBeInstanceOf(TranslationError);
    await expect(db.executeFirst('SELECT 1', [], { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'DAL_ABORTED' });
    await expect(db.execute('SELECT 1', [], { timeoutMs: 0 })).rejects.toMatchObject({ code: 'DAL_CONFIG' });
    expect(status(db).metrics.queryErrors).toBe(errorsBefore + 1);
    expect(status(db).metrics.errorsByCategory.query).toBeGreaterThanOrEqual(1);
    expect(status(db).sizes.inUse).toBe(0);
    expect(await db.execute('SELECT count(*) AS n FROM t')).toEqual([{ n: 1 }]);
  });

  it('a statement past its timeout completes (nothing can interrupt it) and the overrun is logged', async () => {
    const warnings: Array<{ data: Record<string, unknown>; message: string }> = [];
    const db = database({ slowQueryThresholdMs: 60_000 }, { warn: (data, message) => warnings.push({ data, message }) });
    const started = performance.now();
    const rows = await db.execute<{ n: number }>(SLOW, [], { timeoutMs: 20 });
    const elapsed = performance.now() - started;
    expect(rows).toEqual([{ n: 3_000_000 }]);
    expect(elapsed).toBeGreaterThan(20);
    const overrun = warnings.find((w) => w.message.includes('ran past its timeout'));
    expect(overrun?.data).toMatchObject({ alias: db.alias, timeoutMs: 20 });
    expect(overrun!.data['durationMs']).toBeGreaterThanOrEqual(20);
    // Inside a transaction too (the Connection path).
    warnings.length = 0;
    await db.withConnection((conn) => conn.transaction((tx) => tx.execute(SLOW, [], { timeoutMs: 20 })));
    expect(warnings.some((w) => w.message.includes('ran past its timeout'))).toBe(true);
  });

  it('a writer waits for a lock held by another connection of this thread without blocking the thread', async () => {
    const db = database({ poolMax: 2 });
    await db.execute('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
    const holder = await db.connection();
    await holder.beginTransaction();
    await holder.execute('INSERT INTO [t] ([v]) VALUES (?)', ['first']);
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 5);
    try {
      // SQLite's own busy handler would sleep on this thread, and the holder could never commit.
      const second = db.query('INSERT INTO [t] ([v]) VALUES (?)', ['second']);
      await new Promise((r) => setTimeout(r, 100));
      expect(ticks).toBeGreaterThan(5);
      await holder.commitTransaction();
      expect(await second).toMatchObject({ affectedRows: 1, insertId: 2 });
    } finally {
      clearInterval(ticker);
      await holder.release();
    }
    expect(await db.execute('SELECT [v] FROM [t] ORDER BY [id]')).toEqual([{ v: 'first' }, { v: 'second' }]);
  });

  it('a lock wait ends at the statement timeout, and at busyTimeoutMs with a retryable SQLITE_BUSY', async () => {
    const db = database({ poolMax: 2, driverOptions: { busyTimeoutMs: 2_000 } });
    await db.execute('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
    const holder = await db.connection();
    await holder.beginTransaction();
    try {
      let started = performance.now();
      const timedOut = await db.execute('INSERT INTO [t] ([v]) VALUES (?)', ['x'], { timeoutMs: 150 }).catch((e: unknown) => e);
      expect(timedOut).toMatchObject({ code: 'DAL_QUERY_TIMEOUT' });
      expect(performance.now() - started).toBeLessThan(400);
      // The cancelled wait stops within one retry interval and the connection goes back.
      await new Promise((r) => setTimeout(r, 150));
      expect(status(db).sizes.inUse).toBe(1);

      const short = database({ poolMax: 2, driverOptions: { busyTimeoutMs: 100 }, database: db.config.database });
      started = performance.now();
      const busy = await short.execute('INSERT INTO [t] ([v]) VALUES (?)', ['y']).catch((e: unknown) => e);
      expect(busy).toMatchObject({ code: 'DAL_QUERY', retryable: true, vendorCode: 'SQLITE_BUSY' });
      expect(performance.now() - started).toBeGreaterThanOrEqual(100);
      expect(performance.now() - started).toBeLessThan(1_000);
    } finally {
      await holder.rollbackTransaction();
      await holder.release();
    }
    expect(await db.execute('SELECT count(*) AS n FROM t')).toEqual([{ n: 0 }]);
  });

  it('a write inside a deferred transaction that already read meets a held lock at once, as with SQLite itself', async () => {
    const db = database({ poolMax: 2, driverOptions: { busyTimeoutMs: 3_000 } });
    await db.execute('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
    const holder = await db.connection();
    const reader = await db.connection();
    await holder.beginTransaction();
    await holder.execute('INSERT INTO [t] ([v]) VALUES (?)', ['held']);
    try {
      await reader.execute('BEGIN DEFERRED');
      await reader.execute('SELECT count(*) AS n FROM t');
      // Waiting here could never succeed: this transaction's snapshot predates the holder's commit.
      const started = performance.now();
      const err = await reader.execute('INSERT INTO [t] ([v]) VALUES (?)', ['late']).catch((e: unknown) => e);
      expect(err).toMatchObject({ retryable: true });
      expect(performance.now() - started).toBeLessThan(500);
    } finally {
      await reader.execute('ROLLBACK').catch(() => undefined);
      await reader.release();
      await holder.rollbackTransaction();
      await holder.release();
    }
  });

  it("process mode is one option away, and its timeouts stop the statement", async () => {
    const db = database({ driverOptions: { mode: 'process' }, poolMax: 1 });
    const err = await db.execute(SLOW.replace('3000000', '2000000000'), [], { timeoutMs: 200 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'DAL_QUERY_TIMEOUT' });
    expect(await db.execute('SELECT 1 AS one')).toEqual([{ one: 1 }]);
  });

  it("the async executeFirst keeps every check of the general path on the connection's prepared readers", async () => {
    const db = database();
    await db.execute('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, j TEXT)');
    await db.withConnection((conn) => conn.executeMany('INSERT INTO [t] ([v]) VALUES (?)', [['a'], ['b']]));
    const read = 'SELECT * FROM [t] WHERE [id] = ?';
    expect(await db.executeFirst(read, [1])).toEqual({ id: 1, v: 'a', j: null });
    // Served by the prepared reader from here on, with the driver's parameter conversions.
    expect(await db.executeFirst(read, [2])).toEqual((await db.execute(read, [2]))[0]);
    expect(await db.executeFirst(read, [3])).toBeUndefined();
    expect(await db.executeFirst('SELECT [v] FROM [t] WHERE [id] = ?', [true])).toEqual({ v: 'a' });
    await expect(db.executeFirst(read, [])).rejects.toBeInstanceOf(TranslationError);
    await expect(db.executeFirst(read, [1, 2])).rejects.toBeInstanceOf(TranslationError);
    expect(await db.executeFirst(read, [1], { rowMode: 'array' })).toEqual([1, 'a', null]);
    // A schema change reaches the prepared reader (SQLite prepares it again).
    await db.execute('ALTER TABLE t ADD COLUMN w INTEGER');
    expect(await db.executeFirst(read, [1])).toEqual({ id: 1, v: 'a', j: null, w: null });
    // Statements that write go the general way and still write.
    expect(await db.executeFirst('INSERT INTO [t] ([v]) VALUES (?) RETURNING [id]', ['c'])).toEqual({ id: 3 });
    expect(await db.execute('SELECT count(*) AS n FROM t')).toEqual([{ n: 3 }]);
    // A value the reader cannot bind fails as on the general path: typed, counted, connection back.
    const errors = status(db).metrics.queryErrors;
    const general = await db.executeFirst(read, [Symbol('x')], { rowMode: 'array' }).catch((e: unknown) => e);
    const readerFailure = await db.executeFirst(read, [Symbol('x')]).catch((e: unknown) => e);
    expect(general).toMatchObject({ code: expect.stringMatching(/^DAL_/) });
    expect(readerFailure).toMatchObject({ code: (general as { code: string }).code, message: (general as Error).message });
    expect(status(db).metrics.queryErrors).toBe(errors + 2);
    expect(status(db).sizes.inUse).toBe(0);
    // A table that went away: typed error; once it exists again, the same query works.
    await db.execute('DROP TABLE t');
    await expect(db.executeFirst(read, [1])).rejects.toBeInstanceOf(QueryError);
    await db.execute('CREATE TABLE t (id INTEGER PRIMARY KEY)');
    await db.execute('INSERT INTO t (id) VALUES (1)');
    expect(await db.executeFirst(read, [1])).toEqual({ id: 1 });
    expect(status(db).sizes).toMatchObject({ size: 1, inUse: 0 });
  });

  it('a read through a prepared reader that meets a lock waits for it without blocking the thread', async () => {
    // Rollback journal: readers are shut out while another connection holds an exclusive lock.
    const db = database({ driverOptions: { busyTimeoutMs: 5_000, pragmas: { journal_mode: 'DELETE' } } });
    await db.execute('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
    await db.execute('INSERT INTO [t] ([v]) VALUES (?)', ['before']);
    const read = 'SELECT [v] FROM [t] WHERE [id] = ?';
    expect(await db.executeFirst(read, [1])).toEqual({ v: 'before' }); // prepares the reader
    const other = new BetterSqlite(db.config.database);
    other.exec("BEGIN EXCLUSIVE; UPDATE t SET v = 'after' WHERE id = 1");
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 5);
    try {
      const pending = db.executeFirst(read, [1]);
      await new Promise((r) => setTimeout(r, 100));
      expect(ticks).toBeGreaterThan(5);
      expect(status(db).sizes.inUse).toBe(1);
      other.exec('COMMIT');
      expect(await pending).toEqual({ v: 'after' });
    } finally {
      clearInterval(ticker);
      if (other.inTransaction) other.exec('ROLLBACK');
      other.close();
    }
    expect(status(db).sizes).toMatchObject({ inUse: 0, pending: 0 });
  });

  it("a sync write meets a lock held by this thread's open transaction at once, instead of stalling the thread", async () => {
    const db = database({ poolMax: 2, driverOptions: { busyTimeoutMs: 3_000 } });
    await db.execute('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
    const holder = await db.connection();
    await holder.beginTransaction();
    await holder.execute('INSERT INTO [t] ([v]) VALUES (?)', ['async']);
    const sync = db.syncConnection();
    try {
      const started = performance.now();
      const error = (() => {
        try {
          sync.execute('INSERT INTO [t] ([v]) VALUES (?)', ['sync']);
          return undefined;
        } catch (e) {
          return e;
        }
      })();
      expect(performance.now() - started).toBeLessThan(500);
      expect(error).toMatchObject({ code: 'DAL_QUERY', vendorCode: 'SQLITE_BUSY' });
      expect((error as Error).message).toContain('inside a transaction on the same file');
      // Reads do not need the lock (WAL), and once the transaction ends the write goes through.
      expect(sync.execute('SELECT count(*) AS n FROM t')).toEqual([{ n: 0 }]);
      await holder.commitTransaction();
      expect(sync.query('INSERT INTO [t] ([v]) VALUES (?)', ['sync']).affectedRows).toBe(1);
    } finally {
      await holder.release();
      sync.release();
    }
    expect(await db.execute('SELECT [v] FROM [t] ORDER BY [id]')).toEqual([{ v: 'async' }, { v: 'sync' }]);
  });

  it('a sync write still waits, blocking, for a lock held by another process, up to busyTimeoutMs', async () => {
    const db = database({ driverOptions: { busyTimeoutMs: 5_000 } });
    await db.execute('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
    const holdMs = 400;
    const child = spawn(
      process.execPath,
      [
        '-e',
        `const D = require('better-sqlite3'); const db = new D(process.argv[1]); db.exec('BEGIN IMMEDIATE');
         db.prepare('INSERT INTO t (v) VALUES (?)').run('child'); console.log('locked');
         Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ${holdMs}); db.exec('COMMIT'); db.close();`,
        db.config.database,
      ],
      { cwd: fileURLToPath(new URL('..', import.meta.url)), stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const exited = new Promise((resolve) => child.on('exit', resolve));
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    const sync = db.syncConnection();
    try {
      const started = performance.now();
      expect(sync.query('INSERT INTO [t] ([v]) VALUES (?)', ['sync']).affectedRows).toBe(1);
      const waited = performance.now() - started;
      expect(waited).toBeGreaterThan(holdMs / 4);
      expect(waited).toBeLessThan(5_000);
      expect(sync.execute('SELECT [v] FROM [t] ORDER BY [id]')).toEqual([{ v: 'child' }, { v: 'sync' }]);
    } finally {
      sync.release();
      expect(await exited).toBe(0);
    }
  });

  it('every read path gives the same exact integers: numbers while exact, bigints beyond 2^53', async () => {
    const db = database();
    await db.execute('CREATE TABLE t (id INTEGER PRIMARY KEY, big BIGINT)');
    const values = [12, Number.MAX_SAFE_INTEGER, 9007199254740993n, 2n ** 63n - 1n, -(2n ** 63n)];
    for (const [n, big] of values.entries()) await db.execute('INSERT INTO [t] ([id], [big]) VALUES (?, ?)', [n + 1, big]);
    const read = 'SELECT [id], [big] FROM [t] WHERE [id] = ?';
    const sync = db.syncConnection();
    try {
      for (const [n, big] of values.entries()) {
        const expected = { id: n + 1, big };
        // Twice each: the first call prepares, the second runs the kept statement or prepared reader.
        for (let twice = 0; twice < 2; twice++) {
          expect(await db.execute(read, [n + 1])).toEqual([expected]);
          expect(await db.executeFirst(read, [n + 1])).toEqual(expected);
          expect(await db.withConnection((conn) => conn.executeFirst(read, [n + 1]))).toEqual(expected);
          expect(await db.withConnection((conn) => conn.transaction((tx) => tx.execute(read, [n + 1])))).toEqual([expected]);
          expect(sync.execute(read, [n + 1])).toEqual([expected]);
          expect(sync.executeFirst(read, [n + 1])).toEqual(expected);
          expect(sync.executeFirst(read, [n + 1], { rowMode: 'array' })).toEqual([n + 1, big]);
        }
      }
    } finally {
      sync.release();
    }
  });

  it('the sync connection has executeFirst too', () => {
    const db = database();
    const conn = db.syncConnection();
    conn.execute('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
    conn.executeMany('INSERT INTO [t] ([v]) VALUES (?)', [['a'], ['b']]);
    expect(conn.executeFirst<{ v: string }>('SELECT [v] FROM [t] ORDER BY [id] DESC')).toEqual({ v: 'b' });
    expect(conn.executeFirst('SELECT [v] FROM [t] WHERE [id] > ?', [10])).toBeUndefined();
    conn.release();
  });

  it("the sync connection's executeFirst keeps every check of the general path on its prepared readers", () => {
    const db = database();
    const conn = db.syncConnection();
    conn.execute('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
    conn.executeMany('INSERT INTO [t] ([v]) VALUES (?)', [['a'], ['b']]);
    const read = 'SELECT * FROM [t] WHERE [id] = ?';
    expect(conn.executeFirst(read, [1])).toEqual({ id: 1, v: 'a' });
    // Served by the prepared reader from here on.
    expect(conn.executeFirst(read, [2])).toEqual(conn.execute(read, [2])[0]);
    expect(conn.executeFirst(read, [3])).toBeUndefined();
    expect(() => conn.executeFirst(read, [])).toThrow(TranslationError);
    expect(() => conn.executeFirst(read, [1, 2])).toThrow(TranslationError);
    expect(conn.executeFirst(read, [1], { rowMode: 'array' })).toEqual([1, 'a']);
    // A schema change reaches the prepared reader (SQLite prepares it again).
    conn.execute('ALTER TABLE t ADD COLUMN w INTEGER');
    expect(conn.executeFirst(read, [1])).toEqual({ id: 1, v: 'a', w: null });
    // Statements that write go the general way and still write.
    expect(conn.executeFirst('INSERT INTO [t] ([v]) VALUES (?) RETURNING [id]', ['c'])).toEqual({ id: 3 });
    expect(conn.execute('SELECT count(*) AS n FROM t')).toEqual([{ n: 3 }]);
    // Errors are typed, from the first call and from a reader whose table went away.
    expect(() => conn.executeFirst('SELECT * FROM [missing] WHERE [id] = ?', [1])).toThrow(QueryError);
    // Once the table exists, the same query works (a failed prepare is not remembered).
    conn.execute('CREATE TABLE missing (id INTEGER PRIMARY KEY)');
    conn.execute('INSERT INTO missing (id) VALUES (1)');
    expect(conn.executeFirst('SELECT * FROM [missing] WHERE [id] = ?', [1])).toEqual({ id: 1 });
    conn.execute('DROP TABLE t');
    expect(() => conn.executeFirst(read, [1])).toThrow(QueryError);
    conn.release();
    expect(() => conn.executeFirst(read, [1])).toThrow(ConnectionReleasedError);
  });
});
