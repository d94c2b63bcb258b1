import Database from 'better-sqlite3';
import type { DriverConnection, DriverExecuteOptions, DriverResult, DriverRowStream, DriverStreamOptions, SyncDriverConnection, SyncDriverReader } from '@dal/core';
import { sqliteRowStream } from './sqlite-stream.js';
import { everyRow, firstRow, openSqliteDatabase, StatementRunner, type ReadOnlyStatement, type SqliteDatabase } from './sqlite-engine.js';
import { mapSqliteConnectError, mapSqliteError } from './map-error.js';
import { resolve as resolvePath } from 'node:path';
import type { SqliteOpenOptions } from './sqlite-options.js';
import { toSqliteParams } from './sqlite-params.js';

interface InlineHandle {
  readonly db: SqliteDatabase;
  readonly runner: StatementRunner;
  readonly version: string;
  /** The file's absolute path, the key of `handlesByFile`; undefined for an in-memory database. */
  readonly file: string | undefined;
}

/**
 * Every database handle this process opened on the calling thread, by file: a synchronous
 * connection that meets a lock asks them whether one of them holds it (see SqliteSyncConnection).
 */
const handlesByFile = new Map<string, Set<SqliteDatabase>>();

function openInline(options: SqliteOpenOptions, alias: string): InlineHandle {
  let db: SqliteDatabase;
  try {
    db = openSqliteDatabase(options);
  } catch (error) {
    throw mapSqliteConnectError(error, alias, options.filename);
  }
  const version = String(db.prepare('SELECT sqlite_version()').pluck().get());
  const file = options.memory ? undefined : resolvePath(options.filename);
  if (file !== undefined) {
    let handles = handlesByFile.get(file);
    if (handles === undefined) handlesByFile.set(file, (handles = new Set()));
    handles.add(db);
  }
  return { db, runner: new StatementRunner(db, options), version, file };
}

function closeInline(handle: InlineHandle): void {
  if (handle.file !== undefined) {
    const handles = handlesByFile.get(handle.file);
    handles?.delete(handle.db);
    if (handles?.size === 0) handlesByFile.delete(handle.file);
  }
  if (handle.db.open) handle.db.close();
}

/** True when another handle of this thread on the same file is inside a transaction (and may hold its lock). */
function lockedByThisThread(handle: InlineHandle): boolean {
  if (handle.file === undefined) return false;
  for (const db of handlesByFile.get(handle.file) ?? []) {
    if (db !== handle.db && db.open && db.inTransaction) return true;
  }
  return false;
}

const COMMIT = /^\s*(?:commit|end)\b/i;

/**
 * SQLITE_BUSY on a single statement (which then did nothing) may be retried where SQLite's own
 * busy handler would wait: outside a transaction (BEGIN IMMEDIATE included), and on COMMIT.
 * Not inside a transaction that holds a read snapshot (SQLite returns at once there to avoid a
 * deadlock), not a script part of which may have run, and not SQLITE_BUSY_SNAPSHOT, whose
 * transaction must start over.
 */
function mayWait(handle: InlineHandle, busyTimeoutMs: number, error: unknown, sql: string): boolean {
  if (busyTimeoutMs <= 0 || !(error instanceof Database.SqliteError) || error.code !== 'SQLITE_BUSY') return false;
  if (handle.runner.lastWasScript) return false;
  return !handle.db.inTransaction || COMMIT.test(sql);
}

/**
 * SQLite's own busy-handler schedule (ms between attempts), used for the waits an inline
 * connection does without blocking the thread.
 */
const BUSY_DELAYS_MS: readonly number[] = [1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100];

/**
 * An async connection running better-sqlite3 on the calling thread (mode `'inline'`, the default):
 * the fastest mode, but a running statement blocks the event loop and cannot be interrupted, so a
 * timeout cannot stop it (core logs a warning when one ran past its timeout).
 *
 * Waiting for a lock is the exception: SQLite's busy handler would sleep on this very thread, and
 * when the lock belongs to another connection of the same thread (a transaction awaiting its next
 * statement) that connection could never go on to release it. So the inline connection opens with
 * a busy timeout of 0 and waits for a lock asynchronously, up to `busyTimeoutMs`, retrying on
 * SQLite's own schedule; `cancel()` ends such a wait.
 *
 * ```ts
 * const conn = SqliteConnection.open(options, 'main');
 * const { rows } = await conn.execute('SELECT 1 AS one', [], { rowMode: 'object', timeoutMs: 1000 });
 * ```
 */
export class SqliteConnection implements DriverConnection {
  readonly #handle: InlineHandle;
  readonly #alias: string;
  readonly #busyTimeoutMs: number;
  #closed = false;
  /** Set while `execute` waits for a lock; `cancel()` sets `cancelled` to end the wait. */
  #wait: { cancelled: boolean } | undefined;

  private constructor(handle: InlineHandle, alias: string, busyTimeoutMs: number) {
    this.#handle = handle;
    this.#alias = alias;
    this.#busyTimeoutMs = busyTimeoutMs;
  }

  /**
   * Open the database on this thread.
   * @throws {ConnectionError} when the file cannot be opened.
   */
  static open(options: SqliteOpenOptions, alias: string): SqliteConnection {
    // Opening (journal mode, the caller's pragmas) may wait the usual way; statements wait below.
    const handle = openInline(options, alias);
    handle.db.pragma('busy_timeout = 0');
    return new SqliteConnection(handle, alias, options.busyTimeoutMs);
  }

  /** A plain field: core reads it twice per statement, and better-sqlite3's `open` is a native getter. */
  get broken(): boolean {
    return this.#closed;
  }

  /** Run a statement; when its lock is held elsewhere, wait for it without blocking the thread. */
  async execute<R = unknown>(sql: string, params: readonly unknown[], options: DriverExecuteOptions): Promise<DriverResult<R>> {
    const values = toSqliteParams(params);
    const started = performance.now();
    for (let attempt = 0; ; attempt++) {
      try {
        return this.#handle.runner.run(sql, values, options.rowMode, options.firstRow) as DriverResult<R>;
      } catch (error) {
        if (!mayWait(this.#handle, this.#busyTimeoutMs, error, sql) || performance.now() - started >= this.#busyTimeoutMs) throw mapSqliteError(error, { alias: this.#alias, sql });
      }
      const wait = { cancelled: false };
      this.#wait = wait;
      await new Promise((resolve) => setTimeout(resolve, BUSY_DELAYS_MS[Math.min(attempt, BUSY_DELAYS_MS.length - 1)]));
      this.#wait = undefined;
      if (wait.cancelled) throw mapSqliteError(new Database.SqliteError('interrupted while waiting for a lock', 'SQLITE_INTERRUPT'), { alias: this.#alias, sql });
    }
  }

  /**
   * What core calls instead of `execute`: the statement runs here and now, with no promise in
   * between. Returns undefined, having changed nothing, when the statement must wait for a lock:
   * core then calls `execute`, which waits without blocking the thread.
   */
  executeNow<R = unknown>(sql: string, params: readonly unknown[], options: DriverExecuteOptions): DriverResult<R> | undefined {
    try {
      return this.#handle.runner.run(sql, toSqliteParams(params), options.rowMode, options.firstRow) as DriverResult<R>;
    } catch (error) {
      if (mayWait(this.#handle, this.#busyTimeoutMs, error, sql)) return undefined;
      throw mapSqliteError(error, { alias: this.#alias, sql });
    }
  }

  /**
   * `sql` prepared as a read-only query for the `executeFirst` and `execute` calls core runs in place, or
   * undefined when it writes. When the reader throws (a lock, say), core runs the statement again
   * through `executeNow`.
   * @throws the native error when `sql` does not prepare.
   */
  prepareReader(sql: string): SyncDriverReader | undefined {
    const reader = this.#handle.runner.readOnly(sql);
    if (reader === undefined) return undefined;
    return { first: (params) => firstRow(reader, toSqliteParams(params)), all: (params) => everyRow(reader, toSqliteParams(params)) };
  }

  /** Ends a wait for a lock (a running statement has always finished before any timer fires). */
  cancel(): Promise<void> {
    if (this.#wait !== undefined) this.#wait.cancelled = true;
    return Promise.resolve();
  }

  ping(_options: { signal: AbortSignal }): Promise<void> {
    return this.execute('SELECT 1', [], { rowMode: 'array', timeoutMs: 0 }).then(() => undefined);
  }

  serverVersion(): Promise<string> {
    return Promise.resolve(this.#handle.version);
  }

  close(): Promise<void> {
    this.destroy();
    return Promise.resolve();
  }

  destroy(): void {
    this.#closed = true;
    closeInline(this.#handle);
  }
  /** The rows of a statement through `iterate()`, a batch at a time (see sqlite-stream.ts). */
  stream<R = unknown>(sql: string, params: readonly unknown[], options: DriverStreamOptions): DriverRowStream<R> {
    return sqliteRowStream<R>(this.#handle.db, this.#alias, sql, params, options, this.#handle.runner.exact);
  }
}

/**
 * A natively synchronous connection (better-sqlite3 on the calling thread), behind
 * `Database.syncConnection()`.
 *
 * ```ts
 * const conn = SqliteSyncConnection.open(options, 'main');
 * conn.execute('INSERT INTO t (a) VALUES (?)', [1], { rowMode: 'object', timeoutMs: 0 }).insertId;
 * ```
 */
export class SqliteSyncConnection implements SyncDriverConnection {
  readonly #handle: InlineHandle;
  readonly #alias: string;
  readonly #busyTimeoutMs: number;

  private constructor(handle: InlineHandle, alias: string, busyTimeoutMs: number) {
    this.#handle = handle;
    this.#alias = alias;
    this.#busyTimeoutMs = busyTimeoutMs;
  }

  /**
   * Open the database on this thread. Statements first try without waiting for a lock; see `#afterBusy`.
   * @throws {ConnectionError} when the file cannot be opened.
   */
  static open(options: SqliteOpenOptions, alias: string): SqliteSyncConnection {
    const handle = openInline(options, alias);
    handle.db.pragma('busy_timeout = 0');
    return new SqliteSyncConnection(handle, alias, options.busyTimeoutMs);
  }

  /**
   * Run one statement synchronously.
   * @throws {QueryError} (or a subclass) when SQLite rejects it; {ConnectionError} once closed.
   */
  execute<R = unknown>(sql: string, params: readonly unknown[], options: DriverExecuteOptions): DriverResult<R> {
    const runner = this.#handle.runner;
    try {
      const values = toSqliteParams(params);
      try {
        return runner.run(sql, values, options.rowMode, options.firstRow) as DriverResult<R>;
      } catch (error) {
        return this.#afterBusy(error, sql, () => runner.run(sql, values, options.rowMode, options.firstRow)) as DriverResult<R>;
      }
    } catch (error) {
      throw mapSqliteError(error, { alias: this.#alias, sql });
    }
  }

  /**
   * `sql` prepared as a read-only query for `SyncConnection.executeFirst` and `execute`, or
   * undefined when it writes. It meets a lock as `execute` does.
   * @throws the native error when `sql` does not prepare (core then lets `execute` report it).
   */
  prepareReader(sql: string): SyncDriverReader | undefined {
    const reader = this.#handle.runner.readOnly(sql);
    if (reader === undefined) return undefined;
    const read = <T>(how: (r: ReadOnlyStatement, values: readonly unknown[]) => T, params: readonly unknown[]): T => {
      const values = toSqliteParams(params);
      try {
        return how(reader, values);
      } catch (error) {
        return this.#afterBusy(error, sql, () => how(reader, values));
      }
    };
    return { first: (params) => read(firstRow, params), all: (params) => read(everyRow, params) };
  }

  /**
   * What a statement that threw `error` does next. SQLITE_BUSY where SQLite's busy handler would
   * wait (see mayWait) waits, blocking the thread as a synchronous call must, up to
   * `busyTimeoutMs`, and runs `again`, unless another connection of this thread on the same file
   * is inside a transaction: that one may hold the lock and could never release it while this
   * thread waits, so the statement fails at once instead of stalling the thread for nothing.
   * Every other error is thrown as it is.
   */
  #afterBusy<T>(error: unknown, sql: string, again: () => T): T {
    if (!mayWait(this.#handle, this.#busyTimeoutMs, error, sql)) throw error;
    if (lockedByThisThread(this.#handle)) {
      throw new Database.SqliteError(
        'database is locked, and a connection of this thread is inside a transaction on the same file: a synchronous statement cannot wait for it, since the waiting would block the thread that must finish it (commit or roll back that transaction first, or use the async API)',
        'SQLITE_BUSY',
      );
    }
    const db = this.#handle.db;
    db.pragma(`busy_timeout = ${this.#busyTimeoutMs}`);
    try {
      return again();
    } finally {
      db.pragma('busy_timeout = 0');
    }
  }

  serverVersion(): string {
    return this.#handle.version;
  }

  close(): void {
    closeInline(this.#handle);
  }
}
