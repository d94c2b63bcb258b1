import Database from 'better-sqlite3';
import type { DriverConnection, DriverExecuteOptions, DriverResult, SyncDriverConnection, SyncDriverReader } from '@dal/core';
import { getRow, openSqliteDatabase, StatementRunner, type SqliteDatabase } from './sqlite-engine.js';
import { mapSqliteConnectError, mapSqliteError } from './map-error.js';
import type { SqliteOpenOptions } from './sqlite-options.js';
import { toSqliteParams } from './sqlite-params.js';

interface InlineHandle {
  readonly db: SqliteDatabase;
  readonly runner: StatementRunner;
  readonly version: string;
}

function openInline(options: SqliteOpenOptions, alias: string): InlineHandle {
  let db: SqliteDatabase;
  try {
    db = openSqliteDatabase(options);
  } catch (error) {
    throw mapSqliteConnectError(error, alias, options.filename);
  }
  const version = String(db.prepare('SELECT sqlite_version()').pluck().get());
  return { db, runner: new StatementRunner(db, options.statementCacheSize), version };
}

/**
 * `sql` prepared as a read-only query for core's `executeFirst` fast paths, or undefined when it
 * writes. better-sqlite3 prepares the statement again by itself after a schema change.
 * @throws the native error when `sql` does not prepare (core then runs it the general way, which reports it).
 */
function prepareReader(db: SqliteDatabase, sql: string): SyncDriverReader | undefined {
  const stmt = db.prepare(sql);
  if (!stmt.reader || !stmt.readonly) return undefined;
  return { first: (params) => getRow(stmt, toSqliteParams(params)) };
}

/**
 * SQLite's own busy-handler schedule (ms between attempts), used for the waits an inline
 * connection does without blocking the thread.
 */
const BUSY_DELAYS_MS: readonly number[] = [1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100];
const COMMIT = /^\s*(?:commit|end)\b/i;

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
        if (!this.#mayWait(error, sql) || performance.now() - started >= this.#busyTimeoutMs) throw mapSqliteError(error, { alias: this.#alias, sql });
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
      if (this.#mayWait(error, sql)) return undefined;
      throw mapSqliteError(error, { alias: this.#alias, sql });
    }
  }

  /**
   * `sql` prepared as a read-only query for the `executeFirst` calls core runs in place, or
   * undefined when it writes. When the reader throws (a lock, say), core runs the statement again
   * through `executeNow`.
   * @throws the native error when `sql` does not prepare.
   */
  prepareReader(sql: string): SyncDriverReader | undefined {
    return prepareReader(this.#handle.db, sql);
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
    if (this.#handle.db.open) this.#handle.db.close();
  }

  /**
   * SQLITE_BUSY on a single statement (which then did nothing) may be retried where SQLite's own
   * busy handler would wait: outside a transaction (BEGIN IMMEDIATE included), and on COMMIT.
   * Not inside a transaction that holds a read snapshot (SQLite returns at once there to avoid a
   * deadlock), not a script part of which may have run, and not SQLITE_BUSY_SNAPSHOT, whose
   * transaction must start over.
   */
  #mayWait(error: unknown, sql: string): boolean {
    if (this.#busyTimeoutMs <= 0 || !(error instanceof Database.SqliteError) || error.code !== 'SQLITE_BUSY') return false;
    if (this.#handle.runner.lastWasScript) return false;
    return !this.#handle.db.inTransaction || COMMIT.test(sql);
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

  private constructor(handle: InlineHandle, alias: string) {
    this.#handle = handle;
    this.#alias = alias;
  }

  /**
   * Open the database on this thread.
   * @throws {ConnectionError} when the file cannot be opened.
   */
  static open(options: SqliteOpenOptions, alias: string): SqliteSyncConnection {
    return new SqliteSyncConnection(openInline(options, alias), alias);
  }

  /**
   * Run one statement synchronously.
   * @throws {QueryError} (or a subclass) when SQLite rejects it; {ConnectionError} once closed.
   */
  execute<R = unknown>(sql: string, params: readonly unknown[], options: DriverExecuteOptions): DriverResult<R> {
    try {
      return this.#handle.runner.run(sql, toSqliteParams(params), options.rowMode, options.firstRow) as DriverResult<R>;
    } catch (error) {
      throw mapSqliteError(error, { alias: this.#alias, sql });
    }
  }

  /**
   * `sql` prepared as a read-only query for `SyncConnection.executeFirst`, or undefined when it
   * writes.
   * @throws the native error when `sql` does not prepare (core then lets `execute` report it).
   */
  prepareReader(sql: string): SyncDriverReader | undefined {
    return prepareReader(this.#handle.db, sql);
  }

  serverVersion(): string {
    return this.#handle.version;
  }

  close(): void {
    if (this.#handle.db.open) this.#handle.db.close();
  }
}
