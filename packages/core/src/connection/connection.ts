import { performance } from 'node:perf_hooks';
import type { DatabaseConfig } from '../config/database-config.js';
import type { Dialect, DriverCapabilities, DriverExecuteOptions, DriverResult, IsolationLevel, RowMode } from '../driver/driver.js';
import { ConnectionError, ConnectionReleasedError, TransactionError, UnsupportedFeatureError } from '../errors/errors.js';
import type { Lease } from '../pool/pool.js';
import type { PoolRuntime } from '../pool/pool-runtime.js';
import type { ReaderCache } from './reader-cache.js';
import { NO_PARAMS, executeManyStatements, runNativeStatement, runStatement, settle, type ResultShape, type StatementRunner } from './statement.js';
import { instrumentation } from '../instrumentation.js';
import { streamRows, type StreamOptions } from './stream.js';
import { withinLimits } from './within-limits.js';
import { addResult, commitFailure, isTransactionConflict, maxTransactionRetries, retryDelayMs } from './transactions.js';

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
  /** Re-run the whole callback on deadlock, serialization failure or a statement invalidated by DDL elsewhere. */
  retry?: { maxRetries?: number; baseDelayMs?: number; maxDelayMs?: number };
}

export interface VersionDetails {
  dbServerVersion: string;
  dbDriver: string;
}

/** How long a cancelled statement may take to stop before its connection is destroyed. */
const CANCEL_GRACE_MS = 2_000;

/**
 * The state behind one `Connection`: the pooled connection it holds, its transaction depth, a
 * cancelled statement still winding down, and how a statement runs on it (the pipeline's
 * `StatementRunner`). Kept apart from the public class so that none of it shows on `Connection`.
 */
class Session implements StatementRunner {
  lease: Lease | undefined;
  readers: ReaderCache | undefined;
  transactionDepth = 0;
  savepointCounter = 0;
  /** Set while a cancelled statement is still winding down on the server. */
  draining: Promise<void> | undefined;
  readonly giveBack = undefined;

  constructor(
    readonly runtime: PoolRuntime,
    lease: Lease,
  ) {
    this.lease = lease;
    this.readers = lease.readers;
  }

  runNow(nativeSql: string, params: readonly unknown[], options: DriverExecuteOptions): DriverResult<unknown> | undefined | null {
    const lease = this.lease!;
    return lease.runsNow ? lease.conn.executeNow!(nativeSql, params, options) : null;
  }

  inTransaction(): boolean {
    return this.transactionDepth > 0;
  }

  connectionFailed(): void {
    if (this.lease !== undefined) this.runtime.pool.markSuspect(this.lease);
  }

  /** True when a statement can go to the pipeline right now (else `ready()` first). */
  get usableNow(): boolean {
    const lease = this.lease;
    return lease !== undefined && this.draining === undefined && !this.runtime.pool.willDiscard(lease);
  }

  /**
   * Wait for a cancelled statement to finish; replace a connection that broke outside a
   * transaction (inside one, the transaction is lost).
   */
  async ready(alias: string): Promise<void> {
    if (this.draining !== undefined) await this.draining;
    const lease = this.held(alias);
    const pool = this.runtime.pool;
    if (!pool.willDiscard(lease)) return;
    if (this.transactionDepth > 0) {
      throw new ConnectionError(`${alias}: the connection was lost inside a transaction; the transaction was rolled back by the server`);
    }
    pool.release(lease);
    this.lease = undefined;
    this.lease = await this.runtime.acquire(undefined);
    this.readers = this.lease.readers;
  }

  held(alias: string): Lease {
    const lease = this.lease;
    if (lease === undefined) {
      throw new ConnectionReleasedError(`${alias}: this connection was released; get a new one with db.connection()`);
    }
    return lease;
  }

  /** The driver's promise under the statement's timer and signal; a statement given up on is cancelled. */
  run(nativeSql: string, params: readonly unknown[], options: DriverExecuteOptions, signal: AbortSignal | undefined): Promise<DriverResult<unknown>> {
    const lease = this.lease!;
    const pending = lease.conn.execute(nativeSql, params, options);
    return withinLimits(pending, options.timeoutMs, signal, this.runtime.config.alias, nativeSql, () => this.cancel(lease, pending));
  }

  /** Stop a statement the caller gave up on; keep the connection checked out until it has. */
  cancel(lease: Lease, pending: Promise<unknown>): void {
    const { runtime } = this;
    const pool = runtime.pool;
    const settled = pending.then(
      () => true,
      () => true,
    );
    this.draining = (async () => {
      // The grace period runs from the moment the caller gave up, cancel included: a cancel that
      // cannot get through (the server or the network is gone) must not stretch it.
      let grace: NodeJS.Timeout | undefined;
      const graceOver = new Promise<false>((r) => (grace = setTimeout(r, CANCEL_GRACE_MS, false)));
      if (runtime.driver.capabilities.cancel) {
        lease.conn.cancel().catch(() => pool.discardOnRelease(lease));
      } else {
        // Nothing can stop it: the connection is not reused until the statement ends.
        pool.discardOnRelease(lease);
      }
      const stopped = await Promise.race([settled, graceOver]);
      clearTimeout(grace);
      if (!stopped) {
        pool.discardOnRelease(lease);
        lease.conn.destroy();
      }
    })().finally(() => {
      this.draining = undefined;
    });
  }
}

/** Run one statement of the shape the caller asked for on `conn`, and always release it. */
export async function runAndRelease(conn: Connection, sql: string, params: readonly unknown[] | undefined, options: ExecuteOptions | undefined, shape: ResultShape): Promise<unknown> {
  try {
    if (shape === 'rows') return await conn.execute(sql, params, options);
    return await (shape === 'first' ? conn.executeFirst(sql, params, options) : conn.query(sql, params, options));
  } finally {
    await conn.release();
  }
}

/**
 * A pooled connection. Get one from `db.connection()` or `db.withConnection(fn)`; release it
 * with `release()` (or `await using`).
 *
 * ```ts
 * const rows = await conn.execute<{ id: string }>('SELECT * FROM [users] WHERE [id] = ?', [uid]);
 * ```
 */
export class Connection {
  readonly #session: Session;

  /** @internal Created by Database. */
  constructor(runtime: PoolRuntime, lease: Lease) {
    this.#session = new Session(runtime, lease);
  }

  /** The alias of the database this connection belongs to. */
  get alias(): string {
    return this.#session.runtime.config.alias;
  }

  /** The settings of the database this connection belongs to. */
  get config(): DatabaseConfig {
    return this.#session.runtime.config;
  }

  /** The backend's dialect (name, identifier quoting, transaction SQL), for SQL generators such as @dal/entities. */
  get dialect(): Dialect {
    return this.#session.runtime.dialect;
  }

  /** What the backend can do (savepoints, transactional DDL, RETURNING, ...). */
  get capabilities(): DriverCapabilities {
    return this.#session.runtime.driver.capabilities;
  }

  /**
   * Another connection from the same pool, e.g. to run DDL that must not commit this
   * connection's transaction on MySQL. Release it yourself.
   * @throws {PoolTimeoutError} when the pool has no other connection to give within the acquisition timeout.
   */
  async separateConnection(options: { signal?: AbortSignal } = {}): Promise<Connection> {
    const session = this.#session;
    session.held(this.alias);
    return new Connection(session.runtime, await session.runtime.acquire(options.signal));
  }

  /** True until `release()` was called. */
  get isReleased(): boolean {
    return this.#session.lease === undefined;
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
  execute<R = Row>(sql: string, params?: readonly unknown[], options?: ExecuteOptions): Promise<R[]> {
    return this.#statement<R[]>(sql, params, options, 'rows');
  }

  /** Like `execute`, but returns the rows together with `affectedRows` and `insertId`. */
  query<R = Row>(sql: string, params?: readonly unknown[], options?: ExecuteOptions): Promise<QueryResult<R>> {
    return this.#statement<QueryResult<R>>(sql, params, options, 'result');
  }

  /**
   * The first row of a statement, or undefined when it returns none (like knex's `.first()` or
   * kysely's `executeTakeFirst()`, without adding a LIMIT). Drivers may stop reading after that row.
   *
   * ```ts
   * const user = await conn.executeFirst<{ name: string }>('SELECT [name] FROM [users] WHERE [id] = ?', [uid]);
   * ```
   */
  executeFirst<R = Row>(sql: string, params?: readonly unknown[], options?: ExecuteOptions): Promise<R | undefined> {
    return this.#statement<R | undefined>(sql, params, options, 'first');
  }

  /**
   * Run one statement once per parameter list, atomically: inside the open transaction, or in
   * a transaction of its own. A plain `INSERT INTO t (...) VALUES (?, ...)` goes as a few
   * multi-row INSERTs where the backend has them (same rows, `affectedRows` and `insertId`).
   */
  async executeMany(sql: string, paramsList: readonly (readonly unknown[])[], options?: ExecuteOptions): Promise<QueryResult> {
    const { runtime } = this.#session;
    const statements = executeManyStatements(sql, paramsList, runtime.translateTarget, runtime.driver.capabilities.multiRowInsert === true);
    return this.transaction(async () => {
      const total: QueryResult = { rows: [], affectedRows: 0 };
      for (const statement of statements) addResult(total, await this.#native(statement.sql, statement.params, options));
      return total;
    });
  }

  /** True inside `beginTransaction()` / `transaction()`. */
  inTransaction(): boolean {
    return this.#session.transactionDepth > 0;
  }

  /**
   * Start a transaction.
   * @throws {TransactionError} when one is already open (use `transaction()` to nest with savepoints).
   */
  async beginTransaction(options: { isolationLevel?: IsolationLevel } = {}): Promise<void> {
    const session = this.#session;
    session.held(this.alias);
    if (session.transactionDepth > 0) {
      throw new TransactionError(`${this.alias}: a transaction is already open; use conn.transaction() to nest with savepoints`);
    }
    for (const statement of session.runtime.dialect.beginTransactionSql(options.isolationLevel)) {
      await this.#native(statement, NO_PARAMS, undefined);
    }
    session.transactionDepth = 1;
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
   * use savepoints. With `retry`, a deadlock, a serialization failure or a statement invalidated
   * by DDL elsewhere re-runs the whole callback.
   *
   * ```ts
   * await conn.transaction(async (tx) => {
   *   await tx.execute('UPDATE [accounts] SET [balance] = [balance] - ? WHERE [id] = ?', [10, a]);
   *   await tx.execute('UPDATE [accounts] SET [balance] = [balance] + ? WHERE [id] = ?', [10, b]);
   * }, { isolationLevel: 'serializable', retry: { maxRetries: 3 } });
   * ```
   */
  transaction<T>(fn: (tx: Connection) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    const kind = this.#session.transactionDepth > 0 ? 'savepoint' : 'transaction';
    const run = (): Promise<T> => (kind === 'savepoint' ? this.#savepoint(fn) : this.#transaction(fn, options));
    // A tracer wraps the whole transaction, so BEGIN, the callback's statements and COMMIT are its children.
    if (instrumentation !== undefined) return instrumentation.transaction({ pool: this.#session.runtime.instrumented, kind }, run);
    return run();
  }

  async #transaction<T>(fn: (tx: Connection) => Promise<T>, options: TransactionOptions): Promise<T> {
    const maxRetries = maxTransactionRetries(options.retry);
    for (let attempt = 0; ; attempt++) {
      await this.beginTransaction(options);
      try {
        const result = await fn(this);
        await this.commitTransaction();
        return result;
      } catch (error) {
        if (this.#session.transactionDepth > 0) await this.#rollbackQuietly();
        if (!isTransactionConflict(error) || attempt >= maxRetries) throw error;
        await new Promise((resolve) => setTimeout(resolve, retryDelayMs(attempt, options.retry)));
      }
    }
  }

  /** Server version and native client, e.g. `{ dbServerVersion: '15.4', dbDriver: 'pg 8.16.3' }`. */
  async getVersionDetails(): Promise<VersionDetails> {
    const session = this.#session;
    if (!session.usableNow) await session.ready(this.alias);
    return { dbServerVersion: await session.held(this.alias).conn.serverVersion(), dbDriver: session.runtime.driver.clientName };
  }

  /**
   * Give the connection back to the pool. An open transaction is rolled back first. Safe to call twice.
   */
  release(): Promise<void> {
    const session = this.#session;
    const lease = session.lease;
    if (lease === undefined) return Promise.resolve();
    const pool = session.runtime.pool;
    const draining = session.draining;
    if (draining !== undefined) {
      // A cancelled statement is still winding down: the caller does not wait for it. The pool
      // gets the connection back once it stopped; inside a transaction it is dropped instead
      // (the server rolls back on disconnect).
      if (session.transactionDepth > 0) pool.discardOnRelease(lease);
      session.lease = undefined;
      session.transactionDepth = 0;
      void draining.finally(() => pool.release(lease));
      return Promise.resolve();
    }
    if (session.transactionDepth === 0 || pool.willDiscard(lease)) {
      session.lease = undefined;
      session.transactionDepth = 0;
      pool.release(lease);
      return Promise.resolve();
    }
    return this.#releaseInTransaction(lease);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.release();
  }

  // --- internals ---------------------------------------------------------------------------

  async #releaseInTransaction(lease: Lease): Promise<void> {
    const session = this.#session;
    try {
      session.runtime.logger.warn?.({ alias: this.alias }, '[dal] connection released inside a transaction; rolling back');
      await this.#rollbackQuietly();
    } finally {
      session.lease = undefined;
      session.transactionDepth = 0;
      session.runtime.pool.release(lease);
    }
  }

  /** One statement through the pipeline (statement.ts); `idempotent` ones once more on a fresh connection if theirs broke. */
  #statement<T>(sql: string, params: readonly unknown[] | undefined, options: ExecuteOptions | undefined, shape: ResultShape): Promise<T> {
    const first = this.#attempt<T>(sql, params, options, shape);
    if (options?.idempotent !== true) return first;
    const startedAt = performance.now();
    return first.catch((error: unknown) => {
      const session = this.#session;
      const budgetMs = (options.timeoutMs ?? session.runtime.config.queryExecutionTimeoutMs) - (performance.now() - startedAt);
      if (!(error instanceof ConnectionError) || session.transactionDepth > 0 || !(budgetMs > 0) || session.lease === undefined) throw error;
      // The session died before answering: ready() swaps in a fresh connection for the second run.
      session.runtime.pool.discardOnRelease(session.lease);
      return this.#attempt<T>(sql, params, { ...options, timeoutMs: budgetMs }, shape);
    });
  }

  #attempt<T>(sql: string, params: readonly unknown[] | undefined, options: ExecuteOptions | undefined, shape: ResultShape): Promise<T> {
    const session = this.#session;
    if (!session.usableNow) {
      return session.ready(this.alias).then(() => settle<T>(runStatement(session.runtime, session, sql, params, options, shape)));
    }
    try {
      return settle<T>(runStatement(session.runtime, session, sql, params, options, shape));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** An already native statement (transaction control, executeMany's batches) through the pipeline. */
  #native(nativeSql: string, params: readonly unknown[], options: ExecuteOptions | undefined): Promise<QueryResult> {
    const session = this.#session;
    if (!session.usableNow) {
      return session.ready(this.alias).then(() => settle<QueryResult>(runNativeStatement(session.runtime, session, nativeSql, params, options)));
    }
    try {
      return settle<QueryResult>(runNativeStatement(session.runtime, session, nativeSql, params, options));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async #endTransaction(command: 'COMMIT' | 'ROLLBACK'): Promise<void> {
    const session = this.#session;
    session.held(this.alias);
    if (session.transactionDepth === 0) {
      throw new TransactionError(`${this.alias}: ${command} without an open transaction`);
    }
    try {
      await this.#native(command, NO_PARAMS, undefined);
    } catch (error) {
      session.transactionDepth = 0;
      throw command === 'COMMIT' ? commitFailure(this.alias, error) : error;
    }
    session.transactionDepth = 0;
  }

  async #rollbackQuietly(): Promise<void> {
    const session = this.#session;
    try {
      await this.#endTransaction('ROLLBACK');
    } catch {
      // The connection is unusable; the server rolls back on disconnect.
      if (session.lease !== undefined) session.runtime.pool.discardOnRelease(session.lease);
      session.transactionDepth = 0;
    }
  }

  async #savepoint<T>(fn: (tx: Connection) => Promise<T>): Promise<T> {
    const session = this.#session;
    const { dialect, driver } = session.runtime;
    if (!driver.capabilities.savepoints) {
      throw new UnsupportedFeatureError(`${this.alias}: nested transactions need savepoints`, 'savepoints', dialect.name);
    }
    const name = `dal_sp_${++session.savepointCounter}`;
    await this.#native(dialect.savepointSql(name), NO_PARAMS, undefined);
    session.transactionDepth++;
    try {
      const result = await fn(this);
      // Optional: a backend that keeps released savepoints cheaply can skip the round trip.
      const release = dialect.releaseSavepointSql?.(name);
      if (release !== undefined) await this.#native(release, NO_PARAMS, undefined);
      return result;
    } catch (error) {
      if (session.lease !== undefined && !session.lease.conn.broken) {
        await this.#native(dialect.rollbackToSavepointSql(name), NO_PARAMS, undefined).catch(() => undefined);
      }
      throw error;
    } finally {
      session.transactionDepth--;
    }
  }

  /**
   * The rows of one statement as an async iterable, fetched in batches of `batchSize` (a cursor
   * on PostgreSQL, streamed rows on MySQL, `iterate()` on SQLite), so memory stays flat however
   * many rows there are. The timeout bounds each batch. Leaving the loop early (`break`, an
   * error, an aborted signal) stops the query on the server. Run nothing else on this connection
   * and do not release it until the loop ended.
   *
   * ```ts
   * for await (const row of conn.stream('SELECT * FROM [events] WHERE [day] = ?', [day], { batchSize: 500 })) {
   *   await send(row);
   * }
   * ```
   * @throws {QueryTimeoutError} when a batch runs past the timeout (the query is cancelled).
   * @throws {AbortedError} when `options.signal` aborts.
   * @throws {QueryError} (or a subclass) when the server rejects the statement.
   * @throws {ConfigError} for a `batchSize` that is not a positive integer.
   */
  stream<R = Row>(sql: string, params?: readonly unknown[], options?: StreamOptions): AsyncGenerator<R, void, undefined> {
    const session = this.#session;
    const alias = this.alias;
    return streamRows<R>(
      {
        runtime: session.runtime,
        ready: async () => {
          if (!session.usableNow) await session.ready(alias);
          return session.held(alias).conn;
        },
        cancel: (pending) => session.cancel(session.held(alias), pending),
        settled: async () => {
          if (session.draining !== undefined) await session.draining;
          return session.lease !== undefined && !session.runtime.pool.willDiscard(session.lease);
        },
        connectionFailed: () => session.connectionFailed(),
        discard: () => {
          if (session.lease !== undefined) session.runtime.pool.discardOnRelease(session.lease);
        },
      },
      sql,
      params,
      options,
    );
  }
}

export { isTransactionConflict } from './transactions.js';
