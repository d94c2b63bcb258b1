import type { DriverConnection, DriverExecuteOptions, DriverResult, SyncDriverConnection } from '@dal/core';
import { openSqliteDatabase, StatementRunner, type SqliteDatabase } from './sqlite-engine.js';
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
 * An async connection running better-sqlite3 on the calling thread (mode `'inline'`): the fastest
 * mode, but a running statement blocks the event loop and cannot be interrupted, so timeouts only
 * apply between statements.
 *
 * ```ts
 * const conn = SqliteConnection.open(options, 'main');
 * const { rows } = await conn.execute('SELECT 1 AS one', [], { rowMode: 'object', timeoutMs: 1000 });
 * ```
 */
export class SqliteConnection implements DriverConnection {
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
  static open(options: SqliteOpenOptions, alias: string): SqliteConnection {
    return new SqliteConnection(openInline(options, alias), alias);
  }

  get broken(): boolean {
    return !this.#handle.db.open;
  }

  execute<R = unknown>(sql: string, params: readonly unknown[], options: DriverExecuteOptions): Promise<DriverResult<R>> {
    try {
      return Promise.resolve(this.#handle.runner.run(sql, toSqliteParams(params), options.rowMode) as DriverResult<R>);
    } catch (error) {
      return Promise.reject(mapSqliteError(error, { alias: this.#alias, sql }));
    }
  }

  /** Nothing can be running when this is called: a statement finishes before any timer fires. */
  cancel(): Promise<void> {
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
    if (this.#handle.db.open) this.#handle.db.close();
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
      return this.#handle.runner.run(sql, toSqliteParams(params), options.rowMode) as DriverResult<R>;
    } catch (error) {
      throw mapSqliteError(error, { alias: this.#alias, sql });
    }
  }

  serverVersion(): string {
    return this.#handle.version;
  }

  close(): void {
    if (this.#handle.db.open) this.#handle.db.close();
  }
}
