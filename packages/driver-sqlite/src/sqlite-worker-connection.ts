import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { ConnectionError, type DalError, type DriverConnection, type DriverExecuteOptions, type DriverResult, type DriverRowStream, type DriverStreamOptions } from '@dal/core';
import { mapSqliteConnectError, mapSqliteError } from './map-error.js';
import type { SqliteOpenOptions } from './sqlite-options.js';
import { toSqliteParams } from './sqlite-params.js';
import { FAILED, OK, READY, STREAM_END, STREAM_NEXT, type HostMessage, type StatementMessage, type StreamMessage } from './sqlite-protocol.js';

/** The modes that run the database off the calling thread. */
export type SqliteRemoteMode = 'worker' | 'process';

// Built package: dist/sqlite-worker.js beside this module (also from the CJS build, via tsup's
// import.meta.url shim). Run from source (vitest): the built worker, since Node 20 cannot run .ts.
const WORKER_URL = import.meta.url.endsWith('.ts') ? new URL('../dist/sqlite-worker.js', import.meta.url) : new URL('./sqlite-worker.js', import.meta.url);

const INTERRUPTED = 'SQLITE_INTERRUPT';
const ERROR_CLASSES: Record<string, new (message: string) => Error> = { TypeError, RangeError };

type Host = Worker | ChildProcess;

/**
 * An async connection whose database lives in its own worker thread (mode `'worker'`) or child
 * process (mode `'process'`), so a long statement never blocks the event loop. `cancel()` ends
 * the thread or process and leaves the connection `broken`; SQLite rolls back the unfinished
 * transaction (for a file database, on next open; an in-memory database is lost).
 *
 * Only process mode really stops the statement: Node cannot interrupt native code running in a
 * thread, so a cancelled worker keeps executing until the statement ends, and holds its locks
 * until then.
 *
 * ```ts
 * const conn = await SqliteWorkerConnection.open(options, 'main', 'process', AbortSignal.timeout(5000));
 * await conn.execute('SELECT 1', [], { rowMode: 'array', timeoutMs: 1000 });
 * ```
 */
export class SqliteWorkerConnection implements DriverConnection {
  readonly #host: Host;
  readonly #mode: SqliteRemoteMode;
  readonly #alias: string;
  readonly #exited: Promise<void>;
  #broken = false;
  #version = '';
  // The one statement in flight (core never runs two at once on a connection).
  #resolve: ((value: DriverResult<unknown>) => void) | undefined;
  #reject: ((error: DalError) => void) | undefined;
  #sql: string | undefined;
  #objects = false;

  private constructor(host: Host, mode: SqliteRemoteMode, alias: string) {
    this.#host = host;
    this.#mode = mode;
    this.#alias = alias;
    this.#exited = new Promise((resolve) => host.once('exit', () => resolve()));
    host.on('message', (message: HostMessage) => this.#onMessage(message));
    host.on('exit', () => this.#lost('exited', undefined));
    // Without an 'error' listener a failing thread or process would crash ours.
    host.on('error', (error: Error) => this.#lost('failed', error));
  }

  /**
   * Start the thread or process, open the database there and wait until it is ready.
   * @throws {ConnectionError} when the database cannot be opened, the host fails to start, or `signal` aborts.
   */
  static open(options: SqliteOpenOptions, alias: string, mode: SqliteRemoteMode, signal: AbortSignal): Promise<SqliteWorkerConnection> {
    if (signal.aborted) return Promise.reject(abortedConnect(alias, options.filename, signal));
    const host: Host =
      mode === 'worker'
        ? new Worker(WORKER_URL)
        : fork(fileURLToPath(WORKER_URL), [], { serialization: 'advanced', execArgv: [], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    const connection = new SqliteWorkerConnection(host, mode, alias);
    return new Promise<SqliteWorkerConnection>((resolve, reject) => {
      const onAbort = (): void => {
        connection.destroy();
        reject(abortedConnect(alias, options.filename, signal));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      connection.#resolve = () => {
        signal.removeEventListener('abort', onAbort);
        resolve(connection);
      };
      connection.#reject = (error) => {
        signal.removeEventListener('abort', onAbort);
        connection.destroy();
        reject(mapSqliteConnectError(error.cause ?? error, alias, options.filename));
      };
      connection.#post(options);
    });
  }

  get broken(): boolean {
    return this.#broken;
  }

  /** Process id of the child in process mode (for diagnostics); undefined in worker mode. */
  get pid(): number | undefined {
    return this.#host instanceof Worker ? undefined : this.#host.pid;
  }

  execute<R = unknown>(sql: string, params: readonly unknown[], options: DriverExecuteOptions): Promise<DriverResult<R>> {
    return this.#request<R>(sql, options.rowMode, [sql, toSqliteParams(params), options.rowMode === 'object' ? 'columns' : 'array', options.firstRow === true]);
  }

  /** One message to the host, answered by one reply: the statement in flight. */
  #request<R>(sql: string, rowMode: DriverExecuteOptions['rowMode'], message: StatementMessage | StreamMessage): Promise<DriverResult<R>> {
    if (this.#broken) return Promise.reject(new ConnectionError(`${this.#alias}: the SQLite ${this.#mode} connection is closed`));
    if (this.#resolve !== undefined) {
      return Promise.reject(new ConnectionError(`${this.#alias}: a statement is already running on this connection`, { retryable: false }));
    }
    this.#sql = sql;
    this.#objects = rowMode === 'object';
    this.#holdEventLoop(true);
    const promise = new Promise<DriverResult<R>>((resolve, reject) => {
      this.#resolve = resolve as (value: DriverResult<unknown>) => void;
      this.#reject = reject;
    });
    this.#post(message);
    return promise;
  }

  /**
   * Stop the running statement by ending the thread or process; the pending `execute` rejects at
   * once with a QueryError coded SQLITE_INTERRUPT and the connection becomes `broken`.
   */
  cancel(): Promise<void> {
    if (this.#resolve === undefined) return Promise.resolve();
    this.#settleError(mapSqliteError(new Database.SqliteError('interrupted', INTERRUPTED), { alias: this.#alias, sql: this.#sql }));
    this.destroy();
    // A killed process is gone within milliseconds; a terminated thread only once its statement ends.
    return this.#mode === 'process' ? this.#exited : Promise.resolve();
  }

  ping(options: { signal: AbortSignal }): Promise<void> {
    if (options.signal.aborted) return Promise.reject(new ConnectionError(`${this.#alias}: ping aborted`, { cause: options.signal.reason }));
    return this.execute('SELECT 1', [], { rowMode: 'array', timeoutMs: 0 }).then(() => undefined);
  }

  serverVersion(): Promise<string> {
    return Promise.resolve(this.#version);
  }

  /** Close the database where it lives (checkpointing WAL) and wait for the thread or process to end. */
  close(): Promise<void> {
    if (this.#broken) {
      this.destroy();
      return Promise.resolve();
    }
    this.#broken = true;
    this.#holdEventLoop(true);
    this.#post(null);
    return this.#exited;
  }

  destroy(): void {
    this.#broken = true;
    const host = this.#host;
    if (host instanceof Worker) {
      void host.terminate();
      // A thread stuck in a statement cannot be stopped: at least let the event loop end without it.
      host.unref();
    } else if (host.exitCode === null && host.signalCode === null) {
      host.kill('SIGKILL');
    }
  }

  /**
   * An idle connection's thread or process must not keep a program that forgot `db.close()`
   * alive; one running a statement (or closing) must, until its answer arrives.
   */
  #holdEventLoop(hold: boolean): void {
    const host = this.#host;
    if (host instanceof Worker) {
      if (hold) host.ref();
      else host.unref();
      return;
    }
    // A child process is held by its IPC channel as well as by itself.
    if (hold) {
      host.ref();
      host.channel?.ref();
    } else {
      host.unref();
      host.channel?.unref();
    }
  }

  #post(message: StatementMessage | StreamMessage | SqliteOpenOptions | null): void {
    try {
      if (this.#host instanceof Worker) this.#host.postMessage(message);
      else this.#host.send(message as object);
    } catch (error) {
      // Parameters that cannot be cloned (functions, symbols) or a channel already closed.
      this.#settleError(mapSqliteError(error, { alias: this.#alias, sql: this.#sql }));
    }
  }

  #onMessage(message: HostMessage): void {
    switch (message[0]) {
      case OK: {
        const [, rows, affectedRows, insertId, columns] = message;
        const blobs = this.#mode === 'worker';
        const out = columns !== undefined ? toObjects(rows as unknown[][], columns, blobs) : blobs ? fixBlobRows(rows as unknown[][]) : rows;
        this.#settle(insertId === undefined ? { rows: out, affectedRows } : { rows: out, affectedRows, insertId });
        return;
      }
      case FAILED: {
        const [, name, code, text] = message;
        const native = code !== undefined ? new Database.SqliteError(text, code) : new (ERROR_CLASSES[name] ?? Error)(text);
        this.#settleError(mapSqliteError(native, { alias: this.#alias, sql: this.#sql }));
        return;
      }
      case READY:
        this.#version = message[1];
        this.#settle({ rows: [], affectedRows: 0 });
        return;
    }
  }

  #settle(result: DriverResult<unknown>): void {
    const resolve = this.#resolve;
    this.#resolve = this.#reject = this.#sql = undefined;
    if (!this.#broken) this.#holdEventLoop(false);
    resolve?.(result);
  }

  #settleError(error: DalError): void {
    const reject = this.#reject;
    this.#resolve = this.#reject = this.#sql = undefined;
    if (!this.#broken) this.#holdEventLoop(false);
    reject?.(error);
  }

  /**
   * The rows of a statement a batch per round trip: the host keeps the statement's `iterate()`
   * open between batches (see sqlite-host-stream.ts). `cancel()` ends the host as for `execute`.
   */
  stream<R = unknown>(sql: string, params: readonly unknown[], options: DriverStreamOptions): DriverRowStream<R> {
    const shape = options.rowMode === 'object' ? 'columns' : 'array';
    const values = toSqliteParams(params);
    let opened = false;
    let finished = false;
    return {
      next: async () => {
        if (finished) return [];
        const { rows } = await this.#request<R>(sql, options.rowMode, [STREAM_NEXT, sql, values, shape, options.batchSize, !opened]);
        opened = true;
        if (rows.length < options.batchSize) finished = true;
        return rows;
      },
      close: async () => {
        if (opened && !finished && !this.#broken) await this.#request(sql, options.rowMode, [STREAM_END]);
      },
    };
  }

  #lost(what: string, cause: Error | undefined): void {
    this.#broken = true;
    if (this.#reject !== undefined) this.#settleError(new ConnectionError(`${this.#alias}: the SQLite ${this.#mode} ${what} unexpectedly`, { cause }));
  }
}

function abortedConnect(alias: string, filename: string, signal: AbortSignal): ConnectionError {
  return new ConnectionError(`${alias}: opening SQLite database "${filename}" was aborted`, { cause: signal.reason, host: filename });
}

/** Rebuild row objects from tuples; blobs that crossed a thread arrive as Uint8Array and become Buffers again. */
function toObjects(rows: unknown[][], columns: string[], blobs: boolean): Record<string, unknown>[] {
  const out = new Array<Record<string, unknown>>(rows.length);
  const width = columns.length;
  for (let i = 0; i < rows.length; i++) {
    const tuple = rows[i] as unknown[];
    const row: Record<string, unknown> = {};
    for (let c = 0; c < width; c++) {
      const value = tuple[c];
      row[columns[c] as string] = blobs && value instanceof Uint8Array ? asBuffer(value) : value;
    }
    out[i] = row;
  }
  return out;
}

function fixBlobRows(rows: unknown[][]): unknown[][] {
  for (const tuple of rows) {
    for (let c = 0; c < tuple.length; c++) {
      const value = tuple[c];
      if (value instanceof Uint8Array) tuple[c] = asBuffer(value);
    }
  }
  return rows;
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
