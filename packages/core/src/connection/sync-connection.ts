import { DalError } from '@dal/resilience';
import type { DatabaseConfig } from '../config/database-config.js';
import type { Dialect, Driver, DriverCapabilities, IsolationLevel, SyncDriverConnection } from '../driver/driver.js';
import { ConnectionReleasedError, TransactionError, UnsupportedFeatureError } from '../errors/errors.js';
import { DefaultDriverOptions } from './driver-options.js';
import { addResult, type ExecuteOptions, type QueryResult, type Row, type VersionDetails } from './connection.js';
import { ReaderCache } from './reader-cache.js';
import { NO_PARAMS, compileFor, executeManyStatements } from './statement.js';

/** Options of a synchronous statement: no timeout or signal, since nothing can interrupt a synchronous call. */
export type SyncExecuteOptions = Pick<ExecuteOptions, 'rowMode' | 'tags'>;

/**
 * A synchronous connection with the same methods as `Connection` (SQLite natively). It is not
 * pooled: `db.syncConnection()` returns the database's one sync connection.
 *
 * ```ts
 * const conn = db.syncConnection();
 * const rows = conn.execute('SELECT * FROM [users] WHERE [id] = ?', [id]);
 * ```
 */
export class SyncConnection {
  readonly #driver: Driver;
  readonly #config: DatabaseConfig;
  #conn: SyncDriverConnection | undefined;
  #transactionDepth = 0;
  #savepointCounter = 0;
  readonly #onRelease: () => void;
  readonly #driverOptions: DefaultDriverOptions;
  /** Prepared `executeFirst` queries, when the driver has `prepareReader`. */
  readonly #readers: ReaderCache | undefined;

  /** @internal Created by Database. */
  constructor(driver: Driver, config: DatabaseConfig, conn: SyncDriverConnection, onRelease: () => void) {
    this.#driver = driver;
    this.#config = config;
    this.#conn = conn;
    this.#onRelease = onRelease;
    this.#driverOptions = new DefaultDriverOptions(config.queryExecutionTimeoutMs);
    this.#readers = ReaderCache.of(conn, driver.dialect.translateTarget);
  }

  get alias(): string {
    return this.#config.alias;
  }

  /** The settings of the database this connection belongs to. */
  get config(): DatabaseConfig {
    return this.#config;
  }

  /** The backend's dialect (name, identifier quoting, transaction SQL). */
  get dialect(): Dialect {
    return this.#driver.dialect;
  }

  /** What the backend can do (savepoints, transactional DDL, RETURNING, ...). */
  get capabilities(): DriverCapabilities {
    return this.#driver.capabilities;
  }

  get isReleased(): boolean {
    return this.#conn === undefined;
  }

  execute<R = Row>(sql: string, params?: readonly unknown[], options?: SyncExecuteOptions): R[] {
    return this.query<R>(sql, params, options).rows;
  }

  query<R = Row>(sql: string, params?: readonly unknown[], options?: SyncExecuteOptions): QueryResult<R> {
    return this.#query<R>(sql, params, options, false);
  }

  /**
   * The first row, or undefined when there is none (SQLite stops reading after it). A read-only
   * query runs through a reader the driver prepared once (one lookup, no result object): on SQLite
   * this is as fast as calling better-sqlite3 directly.
   */
  executeFirst<R = Row>(sql: string, params?: readonly unknown[], options?: SyncExecuteOptions): R | undefined {
    const cached = options?.rowMode === 'array' || this.#readers === undefined ? null : this.#readers.get(sql);
    if (cached === null) return this.#query<R>(sql, params, options, true).rows[0];
    const values = params ?? NO_PARAMS;
    if (values.length !== cached.parameterCount) compileFor(sql, values, this.#driver.dialect.translateTarget);
    this.#live();
    try {
      return cached.reader.first(values) as R | undefined;
    } catch (error) {
      throw this.#mapError(error, cached.nativeSql);
    }
  }

  /** Like `Connection.executeMany`: atomic, and plain INSERTs go as a few multi-row ones. */
  executeMany(sql: string, paramsList: readonly (readonly unknown[])[], options?: SyncExecuteOptions): QueryResult {
    const driver = this.#driver;
    const statements = executeManyStatements(sql, paramsList, driver.dialect.translateTarget, driver.capabilities.multiRowInsert === true);
    return this.transaction(() => {
      const total: QueryResult = { rows: [], affectedRows: 0 };
      for (const statement of statements) addResult(total, this.#run<Row>(statement.sql, statement.params, options));
      return total;
    });
  }

  inTransaction(): boolean {
    return this.#transactionDepth > 0;
  }

  beginTransaction(options: { isolationLevel?: IsolationLevel } = {}): void {
    if (this.#transactionDepth > 0) {
      throw new TransactionError(`${this.alias}: a transaction is already open; use transaction() to nest with savepoints`);
    }
    for (const statement of this.#driver.dialect.beginTransactionSql(options.isolationLevel)) this.#run(statement, NO_PARAMS);
    this.#transactionDepth = 1;
  }

  commitTransaction(): void {
    this.#end('COMMIT');
  }

  rollbackTransaction(): void {
    this.#end('ROLLBACK');
  }

  /** Run `fn` in a transaction (savepoint when nested); commit on return, roll back on throw. */
  transaction<T>(fn: (tx: SyncConnection) => T, options: { isolationLevel?: IsolationLevel } = {}): T {
    if (this.#transactionDepth > 0) return this.#savepoint(fn);
    this.beginTransaction(options);
    try {
      const result = fn(this);
      if (result instanceof Promise) {
        throw new TransactionError(`${this.alias}: a SyncConnection transaction callback must not be async`);
      }
      this.commitTransaction();
      return result;
    } catch (error) {
      if (this.#transactionDepth > 0) {
        try {
          this.rollbackTransaction();
        } catch {
          this.#transactionDepth = 0;
        }
      }
      throw error;
    }
  }

  getVersionDetails(): VersionDetails {
    return { dbServerVersion: this.#live().serverVersion(), dbDriver: this.#driver.clientName };
  }

  /** Close the connection (rolling back an open transaction). Safe to call twice. */
  release(): void {
    const conn = this.#conn;
    if (conn === undefined) return;
    try {
      if (this.#transactionDepth > 0) this.rollbackTransaction();
    } finally {
      this.#conn = undefined;
      this.#transactionDepth = 0;
      this.#readers?.clear();
      conn.close();
      this.#onRelease();
    }
  }

  [Symbol.dispose](): void {
    this.release();
  }

  #live(): SyncDriverConnection {
    if (this.#conn === undefined) {
      throw new ConnectionReleasedError(`${this.alias}: this sync connection was released; call db.syncConnection() again`);
    }
    return this.#conn;
  }

  #query<R>(sql: string, params: readonly unknown[] | undefined, options: SyncExecuteOptions | undefined, firstRow: boolean): QueryResult<R> {
    const values = params ?? NO_PARAMS;
    return this.#run<R>(compileFor(sql, values, this.#driver.dialect.translateTarget).sql, values, options, firstRow);
  }

  #run<R>(sql: string, params: readonly unknown[], options?: SyncExecuteOptions, firstRow = false): QueryResult<R> {
    const conn = this.#live();
    try {
      return conn.execute<R>(sql, params, this.#driverOptions.get(options?.rowMode, firstRow));
    } catch (error) {
      throw this.#mapError(error, sql);
    }
  }

  /** A driver error as a DalError (DalErrors pass through). */
  #mapError(error: unknown, sql: string): DalError {
    return DalError.isInstance(error) ? error : this.#driver.dialect.mapError(error, { alias: this.alias, sql });
  }

  #end(command: 'COMMIT' | 'ROLLBACK'): void {
    if (this.#transactionDepth === 0) throw new TransactionError(`${this.alias}: ${command} without an open transaction`);
    try {
      this.#run(command, NO_PARAMS);
    } finally {
      this.#transactionDepth = 0;
    }
  }

  #savepoint<T>(fn: (tx: SyncConnection) => T): T {
    const dialect = this.#driver.dialect;
    if (!this.#driver.capabilities.savepoints) {
      throw new UnsupportedFeatureError(`${this.alias}: nested transactions need savepoints`, 'savepoints', dialect.name);
    }
    const name = `dal_sp_${++this.#savepointCounter}`;
    this.#run(dialect.savepointSql(name), NO_PARAMS);
    this.#transactionDepth++;
    try {
      const result = fn(this);
      this.#run(dialect.releaseSavepointSql(name), NO_PARAMS);
      return result;
    } catch (error) {
      this.#run(dialect.rollbackToSavepointSql(name), NO_PARAMS);
      throw error;
    } finally {
      this.#transactionDepth--;
    }
  }
}
