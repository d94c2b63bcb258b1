import type { DatabaseConfig } from '../config/database-config.js';
import type { Dialect, DriverCapabilities, DriverExecuteOptions, DriverResult, IsolationLevel, SyncDriverConnection } from '../driver/driver.js';
import { ConnectionReleasedError, TransactionError, UnsupportedFeatureError } from '../errors/errors.js';
import type { PoolRuntime } from '../pool/pool-runtime.js';
import type { ExecuteOptions, QueryResult, Row, VersionDetails } from './connection.js';
import { ReaderCache } from './reader-cache.js';
import { NO_PARAMS, executeManyStatements, runNativeStatement, runStatement, type ResultShape, type StatementRunner } from './statement.js';
import { addResult, commitFailure } from './transactions.js';

/**
 * Options of a synchronous statement: no signal, since nothing can run while the thread waits.
 * `timeoutMs` is enforced where the backend can stop a statement from elsewhere (the worker of a
 * PostgreSQL or MySQL sync connection cancels it on the server); SQLite runs on this thread, where a
 * statement past it is reported as an overrun.
 */
export type SyncExecuteOptions = Pick<ExecuteOptions, 'rowMode' | 'tags' | 'timeoutMs'>;

/** How a synchronous connection runs a statement (the pipeline's `StatementRunner`): always at once. */
class SyncSession implements StatementRunner {
  conn: SyncDriverConnection | undefined;
  readonly readers: ReaderCache | undefined;
  transactionDepth = 0;
  savepointCounter = 0;

  constructor(
    readonly runtime: PoolRuntime,
    conn: SyncDriverConnection,
  ) {
    this.conn = conn;
    this.readers = ReaderCache.of(conn, runtime.translateTarget);
  }

  runNow(nativeSql: string, params: readonly unknown[], options: DriverExecuteOptions): DriverResult<unknown> {
    return this.conn!.execute(nativeSql, params, options);
  }

  run(): Promise<DriverResult<unknown>> {
    return Promise.reject(new Error('a synchronous connection runs every statement at once'));
  }

  inTransaction(): boolean {
    return this.transactionDepth > 0;
  }

  connectionFailed(): void {
    // Nothing to mark: a sync connection is not pooled; its next statement reports the same failure.
  }

  /** The driver connection; the alias is looked up only for the error, as this runs for every statement. */
  live(): SyncDriverConnection {
    if (this.conn === undefined) {
      throw new ConnectionReleasedError(`${this.runtime.config.alias}: this sync connection was released; call db.syncConnection() again`);
    }
    return this.conn;
  }
}

/**
 * A synchronous connection with the same methods as `Connection`: SQLite natively, PostgreSQL and
 * MySQL through a worker thread. Its statements go through the same pipeline as every other
 * (statement.ts): translated, recorded in the pool's metrics and slow-query log, errors mapped.
 * `db.syncConnection()` returns the database's one sync connection.
 *
 * ```ts
 * const conn = db.syncConnection();
 * const rows = conn.execute('SELECT * FROM [users] WHERE [id] = ?', [id]);
 * ```
 */
export class SyncConnection {
  readonly #session: SyncSession;
  readonly #onRelease: () => void;

  /** @internal Created by Database. */
  constructor(runtime: PoolRuntime, conn: SyncDriverConnection, onRelease: () => void) {
    this.#session = new SyncSession(runtime, conn);
    this.#onRelease = onRelease;
  }

  get alias(): string {
    return this.#session.runtime.config.alias;
  }

  /** The settings of the database this connection belongs to. */
  get config(): DatabaseConfig {
    return this.#session.runtime.config;
  }

  /** The backend's dialect (name, identifier quoting, transaction SQL). */
  get dialect(): Dialect {
    return this.#session.runtime.dialect;
  }

  /** What the backend can do (savepoints, transactional DDL, RETURNING, ...). */
  get capabilities(): DriverCapabilities {
    return this.#session.runtime.driver.capabilities;
  }

  get isReleased(): boolean {
    return this.#session.conn === undefined;
  }

  execute<R = Row>(sql: string, params?: readonly unknown[], options?: SyncExecuteOptions): R[] {
    return this.#statement<R[]>(sql, params, options, 'rows');
  }

  query<R = Row>(sql: string, params?: readonly unknown[], options?: SyncExecuteOptions): QueryResult<R> {
    return this.#statement<QueryResult<R>>(sql, params, options, 'result');
  }

  /**
   * The first row, or undefined when there is none (SQLite stops reading after it). A read-only
   * query runs through a reader the driver prepared once (one lookup, no result object): on SQLite
   * this is as fast as calling better-sqlite3 directly.
   */
  executeFirst<R = Row>(sql: string, params?: readonly unknown[], options?: SyncExecuteOptions): R | undefined {
    return this.#statement<R | undefined>(sql, params, options, 'first');
  }

  /** Like `Connection.executeMany`: atomic, and plain INSERTs go as a few multi-row ones. */
  executeMany(sql: string, paramsList: readonly (readonly unknown[])[], options?: SyncExecuteOptions): QueryResult {
    const { runtime } = this.#session;
    const statements = executeManyStatements(sql, paramsList, runtime.translateTarget, runtime.driver.capabilities.multiRowInsert === true);
    return this.transaction(() => {
      const total: QueryResult = { rows: [], affectedRows: 0 };
      for (const statement of statements) addResult(total, this.#native(statement.sql, statement.params, options));
      return total;
    });
  }

  inTransaction(): boolean {
    return this.#session.transactionDepth > 0;
  }

  beginTransaction(options: { isolationLevel?: IsolationLevel } = {}): void {
    const session = this.#session;
    session.live();
    if (session.transactionDepth > 0) {
      throw new TransactionError(`${this.alias}: a transaction is already open; use transaction() to nest with savepoints`);
    }
    for (const statement of session.runtime.dialect.beginTransactionSql(options.isolationLevel)) this.#native(statement, NO_PARAMS);
    session.transactionDepth = 1;
  }

  /** @throws {TransactionError} when none is open, or when the outcome of COMMIT is unknown (connection lost). */
  commitTransaction(): void {
    this.#end('COMMIT');
  }

  rollbackTransaction(): void {
    this.#end('ROLLBACK');
  }

  /** Run `fn` in a transaction (savepoint when nested); commit on return, roll back on throw. */
  transaction<T>(fn: (tx: SyncConnection) => T, options: { isolationLevel?: IsolationLevel } = {}): T {
    if (this.#session.transactionDepth > 0) return this.#savepoint(fn);
    this.beginTransaction(options);
    try {
      const result = fn(this);
      if (result instanceof Promise) {
        throw new TransactionError(`${this.alias}: a SyncConnection transaction callback must not be async`);
      }
      this.commitTransaction();
      return result;
    } catch (error) {
      if (this.#session.transactionDepth > 0) this.#rollbackQuietly();
      throw error;
    }
  }

  getVersionDetails(): VersionDetails {
    const session = this.#session;
    return { dbServerVersion: session.live().serverVersion(), dbDriver: session.runtime.driver.clientName };
  }

  /** Close the connection (rolling back an open transaction). Safe to call twice. */
  release(): void {
    const session = this.#session;
    const conn = session.conn;
    if (conn === undefined) return;
    try {
      if (session.transactionDepth > 0) this.#rollbackQuietly();
    } finally {
      session.conn = undefined;
      session.transactionDepth = 0;
      session.readers?.clear();
      conn.close();
      this.#onRelease();
    }
  }

  [Symbol.dispose](): void {
    this.release();
  }

  // --- internals ---------------------------------------------------------------------------

  #statement<T>(sql: string, params: readonly unknown[] | undefined, options: SyncExecuteOptions | undefined, shape: ResultShape): T {
    const session = this.#session;
    session.live();
    return runStatement(session.runtime, session, sql, params, options, shape) as T;
  }

  #native(nativeSql: string, params: readonly unknown[], options?: SyncExecuteOptions): QueryResult {
    const session = this.#session;
    session.live();
    return runNativeStatement(session.runtime, session, nativeSql, params, options) as QueryResult;
  }

  #end(command: 'COMMIT' | 'ROLLBACK'): void {
    const session = this.#session;
    if (session.transactionDepth === 0) throw new TransactionError(`${this.alias}: ${command} without an open transaction`);
    try {
      this.#native(command, NO_PARAMS);
    } catch (error) {
      throw command === 'COMMIT' ? commitFailure(this.alias, error) : error;
    } finally {
      session.transactionDepth = 0;
    }
  }

  /** Roll back after a failure, keeping the caller's error as the one that counts. */
  #rollbackQuietly(): void {
    try {
      this.#end('ROLLBACK');
    } catch {
      // Unusable now: the server rolls back on disconnect, and the next call reports the failure.
    }
  }

  #savepoint<T>(fn: (tx: SyncConnection) => T): T {
    const session = this.#session;
    const { dialect, driver } = session.runtime;
    if (!driver.capabilities.savepoints) {
      throw new UnsupportedFeatureError(`${this.alias}: nested transactions need savepoints`, 'savepoints', dialect.name);
    }
    const name = `dal_sp_${++session.savepointCounter}`;
    this.#native(dialect.savepointSql(name), NO_PARAMS);
    session.transactionDepth++;
    try {
      const result = fn(this);
      const release = dialect.releaseSavepointSql?.(name);
      if (release !== undefined) this.#native(release, NO_PARAMS);
      return result;
    } catch (error) {
      // Guarded as on the async side: the callback's error is the one the caller sees.
      if (session.conn !== undefined) {
        try {
          this.#native(dialect.rollbackToSavepointSql(name), NO_PARAMS);
        } catch {
          // The transaction is lost with the connection; the outer level reports it.
        }
      }
      throw error;
    } finally {
      session.transactionDepth--;
    }
  }
}
