import { performance } from 'node:perf_hooks';
import { AbortedError, DalError } from '@dal/resilience';
import type { DatabaseConfig } from '../config/database-config.js';
import type { Dialect, DriverCapabilities, DriverResult, IsolationLevel, RowMode } from '../driver/driver.js';
import {
  ConnectionError,
  ConnectionReleasedError,
  QueryTimeoutError,
  TransactionError,
  UnsupportedFeatureError,
} from '../errors/errors.js';
import type { PoolEntry } from '../pool/pool.js';
import type { PoolRuntime } from '../pool/pool-runtime.js';
import { runNow } from './run-now.js';
import { NO_PARAMS, checkBeforeRun, compileFor, executeManyStatements } from './statement.js';

/** A row as returned by `execute`: an object keyed by column name, or a tuple with rowMode 'array'. */
export type Row = Record<string, unknown>;

export interface ExecuteOptions {
  /** Per-call timeout; defaults to the config's `queryExecutionTimeoutMs`. */
  timeoutMs?: number;
  /** Labels for logs and metrics, e.g. `{ operation: 'get_user' }`. */
  tags?: Readonly<Record<string, string | number | boolean>>;
  /** Cancels the statement on the server when aborted. */
  signal?: AbortSignal;
  /** 'object' (default) or 'array' rows. */
  rowMode?: RowMode;
  /**
   * The statement is safe to run twice (a read, an upsert, an update to a fixed value): when its
   * connection breaks before a result comes back, it is re-run once on a fresh connection, within
   * the same timeout. Ignored inside an explicit transaction, whose work died with the connection.
   */
  idempotent?: boolean;
}

/** Full result of `query`: rows plus counts. */
export interface QueryResult<R = Row> {
  rows: R[];
  affectedRows: number;
  insertId?: number | bigint | string;
}

export interface TransactionOptions {
  isolationLevel?: IsolationLevel;
  /** Re-run the whole callback on deadlock or serialization failure. */
  retry?: { maxRetries?: number; baseDelayMs?: number; maxDelayMs?: number };
}

export interface VersionDetails {
  dbServerVersion: string;
  dbDriver: string;
}

const MAX_TIMER_MS = 2_147_483_647;
/** How long a cancelled statement may take to stop before its connection is destroyed. */
const CANCEL_GRACE_MS = 2_000;

/**
 * A pooled connection. Get one from `db.connection()` or `db.withConnection(fn)`; release it
 * with `release()` (or `await using`).
 *
 * ```ts
 * const rows = await conn.execute<{ id: string }>('SELECT * FROM [users] WHERE [id] = ?', [uid]);
 * ```
 */
export class Connection {
  readonly #runtime: PoolRuntime;
  #entry: PoolEntry | undefined;
  #transactionDepth = 0;
  #savepointCounter = 0;
  /** Set while a cancelled statement is still winding down on the server. */
  #draining: Promise<void> | undefined;

  /** @internal Created by Database. */
  constructor(runtime: PoolRuntime, entry: PoolEntry) {
    this.#runtime = runtime;
    this.#entry = entry;
  }

  /** The alias of the database this connection belongs to. */
  get alias(): string {
    return this.#runtime.config.alias;
  }

  /** The settings of the database this connection belongs to. */
  get config(): DatabaseConfig {
    return this.#runtime.config;
  }

  /** The backend's dialect (name, identifier quoting, transaction SQL), for SQL generators such as @dal/entities. */
  get dialect(): Dialect {
    return this.#runtime.dialect;
  }

  /** What the backend can do (savepoints, transactional DDL, RETURNING, ...). */
  get capabilities(): DriverCapabilities {
    return this.#runtime.driver.capabilities;
  }

  /**
   * Another connection from the same pool, e.g. to run DDL that must not commit this
   * connection's transaction on MySQL. Release it yourself.
   * @throws {PoolTimeoutError} when the pool has no other connection to give within the acquisition timeout.
   */
  async separateConnection(options: { signal?: AbortSignal } = {}): Promise<Connection> {
    this.#usableEntry();
    return new Connection(this.#runtime, await this.#runtime.acquire(options.signal));
  }

  /** True until `release()` was called. */
  get isReleased(): boolean {
    return this.#entry === undefined;
  }

  /**
   * Run one statement written in portable SQL (`[ident]`, `?`) and return its rows.
   *
   * ```ts
   * const rows = await conn.execute('SELECT [name] FROM [users] WHERE [age] > ?', [30], { timeoutMs: 5_000 });
   * ```
   * @throws {QueryTimeoutError} when it runs past its timeout (it is cancelled on the server).
   * @throws {AbortedError} when `options.signal` aborts (it is cancelled on the server).
   * @throws {QueryError} (or a subclass) when the server rejects it.
   * @throws {TranslationError} when the parameters do not match the placeholders.
   */
  async execute<R = Row>(sql: string, params?: readonly unknown[], options?: ExecuteOptions): Promise<R[]> {
    const result = await this.query<R>(sql, params, options);
    return result.rows;
  }

  /** Like `execute`, but returns the rows together with `affectedRows` and `insertId`. */
  query<R = Row>(sql: string, params?: readonly unknown[], options?: ExecuteOptions): Promise<QueryResult<R>> {
    return this.#query<R>(sql, params, options, false);
  }

  /**
   * The first row of a statement, or undefined when it returns none (like knex's `.first()` or
   * kysely's `executeTakeFirst()`, without adding a LIMIT). Drivers may stop reading after that row.
   *
   * ```ts
   * const user = await conn.executeFirst<{ name: string }>('SELECT [name] FROM [users] WHERE [id] = ?', [uid]);
   * ```
   */
  async executeFirst<R = Row>(sql: string, params?: readonly unknown[], options?: ExecuteOptions): Promise<R | undefined> {
    const result = await this.#query<R>(sql, params, options, true);
    return result.rows[0];
  }

  /**
   * Run one statement once per parameter list, atomically: inside the open transaction, or in
   * a transaction of its own. A plain `INSERT INTO t (...) VALUES (?, ...)` goes as a few
   * multi-row INSERTs where the backend has them (same rows, `affectedRows` and `insertId`).
   */
  async executeMany(sql: string, paramsList: readonly (readonly unknown[])[], options?: ExecuteOptions): Promise<QueryResult> {
    const runtime = this.#runtime;
    const statements = executeManyStatements(sql, paramsList, runtime.translateTarget, runtime.driver.capabilities.multiRowInsert === true);
    return this.transaction(async () => {
      const total: QueryResult = { rows: [], affectedRows: 0 };
      for (const statement of statements) addResult(total, await this.#run<Row>(statement.sql, statement.params, options));
      return total;
    });
  }

  /** True inside `beginTransaction()` / `transaction()`. */
  inTransaction(): boolean {
    return this.#transactionDepth > 0;
  }

  /**
   * Start a transaction.
   * @throws {TransactionError} when one is already open (use `transaction()` to nest with savepoints).
   */
  async beginTransaction(options: { isolationLevel?: IsolationLevel } = {}): Promise<void> {
    this.#usableEntry();
    if (this.#transactionDepth > 0) {
      throw new TransactionError(`${this.alias}: a transaction is already open; use conn.transaction() to nest with savepoints`);
    }
    for (const statement of this.#runtime.dialect.beginTransactionSql(options.isolationLevel)) {
      await this.#run(statement, NO_PARAMS, undefined);
    }
    this.#transactionDepth = 1;
  }

  /**
   * Commit the open transaction.
   * @throws {TransactionError} when none is open, or when the outcome of COMMIT is unknown (connection lost).
   */
  async commitTransaction(): Promise<void> {
    await this.#endTransaction('COMMIT');
  }

  /** Roll back the open transaction. @throws {TransactionError} when none is open. */
  async rollbackTransaction(): Promise<void> {
    await this.#endTransaction('ROLLBACK');
  }

  /**
   * Run `fn` in a transaction: commit when it returns, roll back when it throws. Nested calls
   * use savepoints. With `retry`, a deadlock or serialization failure re-runs the whole callback.
   *
   * ```ts
   * await conn.transaction(async (tx) => {
   *   await tx.execute('UPDATE [accounts] SET [balance] = [balance] - ? WHERE [id] = ?', [10, a]);
   *   await tx.execute('UPDATE [accounts] SET [balance] = [balance] + ? WHERE [id] = ?', [10, b]);
   * }, { isolationLevel: 'serializable', retry: { maxRetries: 3 } });
   * ```
   */
  async transaction<T>(fn: (tx: Connection) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    if (this.#transactionDepth > 0) return this.#savepoint(fn);
    const maxRetries = options.retry?.maxRetries ?? (options.retry ? 3 : 0);
    const baseDelayMs = options.retry?.baseDelayMs ?? 20;
    const maxDelayMs = options.retry?.maxDelayMs ?? 1_000;
    for (let attempt = 0; ; attempt++) {
      await this.beginTransaction(options);
      try {
        const result = await fn(this);
        await this.commitTransaction();
        return result;
      } catch (error) {
        if (this.#transactionDepth > 0) await this.#rollbackQuietly();
        if (!isTransactionConflict(error) || attempt >= maxRetries) throw error;
        const delay = Math.min(maxDelayMs, baseDelayMs * 2 ** attempt) * (0.5 + Math.random() / 2);
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  /** Server version and native client, e.g. `{ dbServerVersion: '15.4', dbDriver: 'pg 8.16.3' }`. */
  async getVersionDetails(): Promise<VersionDetails> {
    const entry = await this.#readyEntry();
    return { dbServerVersion: await entry.conn.serverVersion(), dbDriver: this.#runtime.driver.clientName };
  }

  /**
   * Give the connection back to the pool. An open transaction is rolled back first. Safe to call twice.
   */
  async release(): Promise<void> {
    const entry = this.#entry;
    if (entry === undefined) return;
    const draining = this.#draining;
    if (draining !== undefined) {
      // A cancelled statement is still winding down: the caller does not wait for it. The pool
      // gets the connection back once it stopped; inside a transaction it is dropped instead
      // (the server rolls back on disconnect).
      if (this.#transactionDepth > 0) entry.discard = true;
      this.#entry = undefined;
      this.#transactionDepth = 0;
      void draining.finally(() => this.#runtime.pool.release(entry));
      return;
    }
    try {
      if (this.#transactionDepth > 0 && !entry.discard) {
        this.#runtime.logger.warn?.({ alias: this.alias }, '[dal] connection released inside a transaction; rolling back');
        await this.#rollbackQuietly();
      }
    } finally {
      this.#entry = undefined;
      this.#transactionDepth = 0;
      this.#runtime.pool.release(entry);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.release();
  }

  // --- internals ---------------------------------------------------------------------------

  #usableEntry(): PoolEntry {
    const entry = this.#entry;
    if (entry === undefined) {
      throw new ConnectionReleasedError(`${this.alias}: this connection was released; get a new one with db.connection()`);
    }
    return entry;
  }

  /**
   * The entry to run on, after any cancelled statement finished. A connection that broke
   * outside a transaction is replaced transparently; inside one, the transaction is lost.
   */
  async #readyEntry(): Promise<PoolEntry> {
    let entry = this.#usableEntry();
    if (this.#draining !== undefined) {
      await this.#draining;
      entry = this.#usableEntry();
    }
    if (entry.conn.broken || entry.discard) {
      if (this.#transactionDepth > 0) {
        throw new ConnectionError(`${this.alias}: the connection was lost inside a transaction; the transaction was rolled back by the server`);
      }
      entry.discard = true;
      this.#runtime.pool.release(entry);
      this.#entry = undefined;
      this.#entry = await this.#runtime.acquire(undefined);
      entry = this.#entry;
    }
    return entry;
  }

  async #query<R>(sql: string, params: readonly unknown[] | undefined, options: ExecuteOptions | undefined, firstRow: boolean): Promise<QueryResult<R>> {
    const values = params ?? NO_PARAMS;
    const nativeSql = compileFor(sql, values, this.#runtime.translateTarget).sql;
    if (options?.idempotent !== true || this.#transactionDepth > 0) return this.#run<R>(nativeSql, values, options, firstRow);
    const started = performance.now();
    try {
      return await this.#run<R>(nativeSql, values, options, firstRow);
    } catch (error) {
      const budgetMs = (options.timeoutMs ?? this.#runtime.config.queryExecutionTimeoutMs) - (performance.now() - started);
      if (!(error instanceof ConnectionError) || this.#transactionDepth > 0 || !(budgetMs > 0)) throw error;
      // The session died before answering: #readyEntry swaps in a fresh connection for the one run again.
      if (this.#entry !== undefined) this.#entry.discard = true;
      return this.#run<R>(nativeSql, values, { ...options, timeoutMs: budgetMs }, firstRow);
    }
  }

  #run<R>(nativeSql: string, params: readonly unknown[], options: ExecuteOptions | undefined, firstRow = false): Promise<QueryResult<R>> {
    const entry = this.#entry;
    if (entry === undefined || this.#draining !== undefined || entry.conn.broken || entry.discard) {
      return this.#readyEntry().then(() => this.#run<R>(nativeSql, params, options, firstRow));
    }
    const runtime = this.#runtime;
    if (entry.runsNow) {
      let now: QueryResult<R> | undefined;
      try {
        now = runNow<R>(runtime, entry, nativeSql, params, options, firstRow);
      } catch (error) {
        return Promise.reject(error);
      }
      // Undefined: it must wait for a lock, which the async path below does under the timeout.
      if (now !== undefined) return Promise.resolve(now);
    }
    let timeoutMs: number;
    try {
      timeoutMs = checkBeforeRun(runtime, options);
    } catch (error) {
      return Promise.reject(error);
    }
    const signal = options?.signal;
    const started = performance.now();
    const pending = entry.conn.execute<R>(nativeSql, params, runtime.defaultDriverOptions.for(timeoutMs, options?.rowMode, firstRow));

    return new Promise<QueryResult<R>>((resolve, reject) => {
      let done = false;
      const finish = (): void => {
        done = true;
        clearTimeout(timer);
        if (onAbort !== undefined) signal!.removeEventListener('abort', onAbort);
      };
      const interrupt = (error: DalError): void => {
        if (done) return;
        finish();
        this.#cancel(entry, pending);
        runtime.recordQuery(performance.now() - started, error, options?.tags, nativeSql, params);
        reject(error);
      };
      // Node fires longer timers at once, so anything beyond its limit means "no timeout".
      const timer =
        timeoutMs <= MAX_TIMER_MS
          ? setTimeout(
              () => interrupt(new QueryTimeoutError(`${this.alias}: statement timed out after ${timeoutMs} ms and was cancelled`, timeoutMs, nativeSql)),
              timeoutMs,
            )
          : undefined;
      const onAbort =
        signal === undefined
          ? undefined
          : () => interrupt(new AbortedError(`${this.alias}: statement aborted and cancelled`, signal.reason));
      if (onAbort !== undefined) signal!.addEventListener('abort', onAbort, { once: true });

      pending.then(
        (result: DriverResult<R>) => {
          if (done) return;
          finish();
          runtime.recordQuery(performance.now() - started, undefined, options?.tags, nativeSql, params);
          resolve(result as QueryResult<R>);
        },
        (error: unknown) => {
          if (done) return;
          finish();
          const mapped = runtime.mapError(error, nativeSql);
          // A broken session is replaced; it does not count against the breaker (connection-gate.ts).
          if (mapped instanceof ConnectionError) entry.needsValidation = true;
          runtime.recordQuery(performance.now() - started, mapped, options?.tags, nativeSql, params);
          reject(mapped);
        },
      );
    });
  }

  /** Stop a statement the caller gave up on; keep the connection checked out until it has. */
  #cancel(entry: PoolEntry, pending: Promise<unknown>): void {
    const runtime = this.#runtime;
    const settled = pending.then(
      () => true,
      () => true,
    );
    this.#draining = (async () => {
      if (runtime.driver.capabilities.cancel) {
        try {
          await entry.conn.cancel();
        } catch {
          entry.discard = true;
        }
      } else {
        // Nothing can stop it: the connection is not reused until the statement ends.
        entry.discard = true;
      }
      let grace: NodeJS.Timeout | undefined;
      const stopped = await Promise.race([settled, new Promise<false>((r) => (grace = setTimeout(r, CANCEL_GRACE_MS, false)))]);
      clearTimeout(grace);
      if (!stopped) {
        entry.discard = true;
        entry.conn.destroy();
      }
    })().finally(() => {
      this.#draining = undefined;
    });
  }

  async #endTransaction(command: 'COMMIT' | 'ROLLBACK'): Promise<void> {
    this.#usableEntry();
    if (this.#transactionDepth === 0) {
      throw new TransactionError(`${this.alias}: ${command} without an open transaction`);
    }
    try {
      await this.#run(command, NO_PARAMS, undefined);
    } catch (error) {
      this.#transactionDepth = 0;
      if (command === 'COMMIT' && error instanceof ConnectionError) {
        throw new TransactionError(`${this.alias}: the connection was lost during COMMIT; the outcome is unknown`, { cause: error });
      }
      throw error;
    }
    this.#transactionDepth = 0;
  }

  async #rollbackQuietly(): Promise<void> {
    try {
      await this.#endTransaction('ROLLBACK');
    } catch {
      // The connection is unusable; the server rolls back on disconnect.
      if (this.#entry !== undefined) this.#entry.discard = true;
      this.#transactionDepth = 0;
    }
  }

  async #savepoint<T>(fn: (tx: Connection) => Promise<T>): Promise<T> {
    const { dialect, driver } = this.#runtime;
    if (!driver.capabilities.savepoints) {
      throw new UnsupportedFeatureError(`${this.alias}: nested transactions need savepoints`, 'savepoints', dialect.name);
    }
    const name = `dal_sp_${++this.#savepointCounter}`;
    await this.#run(dialect.savepointSql(name), NO_PARAMS, undefined);
    this.#transactionDepth++;
    try {
      const result = await fn(this);
      await this.#run(dialect.releaseSavepointSql(name), NO_PARAMS, undefined);
      return result;
    } catch (error) {
      if (this.#entry !== undefined && !this.#entry.conn.broken) {
        await this.#run(dialect.rollbackToSavepointSql(name), NO_PARAMS, undefined).catch(() => undefined);
      }
      throw error;
    } finally {
      this.#transactionDepth--;
    }
  }
}

/** @internal Fold one statement's result into `executeMany`'s total. */
export function addResult(total: QueryResult, result: QueryResult): void {
  total.affectedRows += result.affectedRows;
  if (result.rows.length > 0) total.rows.push(...result.rows);
  if (result.insertId !== undefined) total.insertId = result.insertId;
}

/** True for errors that mean "the transaction must be re-run". */
export function isTransactionConflict(error: unknown): boolean {
  return DalError.isInstance(error) && (error.code === 'DAL_DEADLOCK' || error.code === 'DAL_SERIALIZATION_FAILURE');
}
