import {
  AbortedError,
  ConnectionError,
  QueryError,
  type DatabaseConfig,
  type DriverConnection,
  type DriverExecuteOptions,
  type DriverResult,
  type DriverRowStream,
  type DriverStreamOptions,
  type RowMode,
} from '@dal/core';
import { mysqlRowStream, type StreamingNative } from './mysql-stream.js';
import { mapMysqlError } from './map-error.js';
import type { MysqlCanceller } from './mysql-canceller.js';
import {
  destroyNative,
  holdEventLoop,
  isMariadbVersion,
  openNativeConnection,
  type NativeConnection,
  type NativeError,
  type NativeField,
} from './native-connection.js';

/** mysql2 column type code of BIGINT (MYSQL_TYPE_LONGLONG). */
const LONGLONG = 8;
/** ER_UNSUPPORTED_PS: this statement cannot be prepared, run it as text instead. */
const UNSUPPORTED_PS = 1295;
/** ER_NEED_REPREPARE: the prepared statement was invalidated by DDL in another session. */
const NEED_REPREPARE = 1615;

/** Settings a connection needs beyond the config. */
export interface MysqlConnectionOptions {
  /** Sends `KILL QUERY` for `cancel()`. */
  readonly canceller: MysqlCanceller;
  /**
   * Margin added to the caller's timeout for the server-side bound (MariaDB `max_statement_time`,
   * MySQL `max_execution_time`); `false` sets no server-side bound.
   */
  readonly serverTimeoutMarginMs: number | false;
}

/** Builds the statement that sets the session's server-side bound, in milliseconds (0 = none). */
type BoundSql = (ms: number) => string;

function boundSqlFor(serverVersion: string): BoundSql | undefined {
  // MariaDB: seconds, applies to every statement. MySQL >= 5.7.8: milliseconds, SELECT only.
  if (isMariadbVersion(serverVersion)) return (ms) => `max_statement_time = ${ms / 1000}`;
  const [major = 0, minor = 0, patch = 0] = serverVersion.split(/[.-]/, 3).map(Number);
  if (major > 5 || (major === 5 && (minor > 7 || (minor === 7 && patch >= 8)))) return (ms) => `max_execution_time = ${ms}`;
  return undefined;
}

function boundMsFor(timeoutMs: number, margin: number): number {
  return Number.isFinite(timeoutMs) && timeoutMs > 0 ? Math.ceil(timeoutMs + margin) : 0;
}

/**
 * Plain strings and numbers go to mysql2 untouched (the hot path allocates nothing);
 * undefined becomes NULL, Uint8Array a Buffer, and plain objects/arrays JSON text.
 */
export function toNativeParams(params: readonly unknown[]): readonly unknown[] {
  let converted: unknown[] | undefined;
  for (let i = 0; i < params.length; i++) {
    const value = params[i];
    if (typeof value === 'string' || typeof value === 'number' || value === null) continue;
    const next = toNativeParam(value);
    if (next !== value) {
      converted ??= params.slice();
      converted[i] = next;
    }
  }
  return converted ?? params;
}

function toNativeParam(value: unknown): unknown {
  if (value === undefined) return null;
  if (typeof value !== 'object' || value === null || value instanceof Date || Buffer.isBuffer(value)) return value;
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  return JSON.stringify(value);
}

/** BIGINT values beyond Number.MAX_SAFE_INTEGER arrive as strings: make them exact bigints. */
export function convertBigIntColumns(rows: unknown[], fields: readonly NativeField[], rowMode: RowMode): void {
  for (let c = 0; c < fields.length; c++) {
    const field = fields[c] as NativeField;
    if (field.columnType !== LONGLONG) continue;
    const key: string | number = rowMode === 'array' ? c : field.name;
    for (let r = 0; r < rows.length; r++) {
      const row = rows[r] as Record<string | number, unknown>;
      const value = row[key];
      if (typeof value === 'string') row[key] = BigInt(value);
    }
  }
}

/**
 * One MySQL / MariaDB session on a single mysql2 connection. Statements with parameters run
 * as server-side prepared statements (cached per connection); statements without run as text.
 * Opened by `MysqlDriver.connect`; core drives it and never runs two statements at once.
 */
export class MysqlConnection implements DriverConnection {
  readonly #native: NativeConnection;
  readonly #alias: string;
  readonly #serverVersion: string;
  readonly #canceller: MysqlCanceller;
  readonly #boundSql: BoundSql | undefined;
  readonly #margin: number;
  /** Server-side bound currently set on the session, in ms (Infinity: none). */
  #boundMs: number;
  #broken = false;
  #busy = false;
  #cancelRequested = false;
  #resolve: ((result: DriverResult<never>) => void) | undefined;
  #reject: ((error: unknown) => void) | undefined;
  #sql = '';
  #values: readonly unknown[] | undefined;
  #rowMode: RowMode = 'object';
  #fallback = false;
  /** The statement to run once the bound-raising SET succeeds. */
  #next: { sql: string; values: readonly unknown[] | undefined; rowMode: RowMode; boundMs: number } | undefined;

  private constructor(
    native: NativeConnection,
    config: DatabaseConfig,
    serverVersion: string,
    options: MysqlConnectionOptions,
    boundMs: number,
  ) {
    this.#native = native;
    this.#alias = config.alias;
    this.#serverVersion = serverVersion;
    this.#canceller = options.canceller;
    this.#margin = options.serverTimeoutMarginMs === false ? 0 : options.serverTimeoutMarginMs;
    this.#boundSql = options.serverTimeoutMarginMs === false ? undefined : boundSqlFor(serverVersion);
    this.#boundMs = this.#boundSql === undefined ? Infinity : boundMs;
    const markBroken = () => {
      this.#broken = true;
    };
    native.on('error', markBroken);
    native.on('end', markBroken);
    holdEventLoop(native, false);
  }

  /**
   * Open a session: connect, then set the time zone to UTC and the server-side statement bound
   * to `queryExecutionTimeoutMs` + margin, all within `signal`.
   * @throws {ConnectionError} when the server cannot be reached, the login fails or `signal` aborts.
   */
  static async open(config: DatabaseConfig, signal: AbortSignal, options: MysqlConnectionOptions): Promise<MysqlConnection> {
    const boundMs = options.serverTimeoutMarginMs === false ? 0 : boundMsFor(config.queryExecutionTimeoutMs, options.serverTimeoutMarginMs);
    const { native, serverVersion } = await openNativeConnection(config, signal, (version) => {
      const bound = options.serverTimeoutMarginMs === false ? undefined : boundSqlFor(version);
      return bound === undefined ? "SET time_zone = '+00:00'" : `SET time_zone = '+00:00', ${bound(boundMs)}`;
    });
    return new MysqlConnection(native, config, serverVersion, options, boundMs === 0 ? Infinity : boundMs);
  }

  /** True once the socket closed or a fatal error happened; core then discards the connection. */
  get broken(): boolean {
    return this.#broken;
  }

  /** The session id (`CONNECTION_ID()`), the target of `KILL QUERY`. */
  get threadId(): number | null {
    return this.#native.threadId;
  }

  /**
   * Run one native statement with positional `?` parameters.
   * @throws {QueryError} (or a subclass) when the server rejects it or it was cancelled.
   * @throws {ConnectionError} when the connection is or becomes unusable.
   */
  execute<R = unknown>(sql: string, params: readonly unknown[], options: DriverExecuteOptions): Promise<DriverResult<R>> {
    if (this.#busy) return Promise.reject(this.#error('connection is busy with another statement', sql));
    if (this.#broken) return Promise.reject(new ConnectionError(`${this.#alias}: connection is closed`));
    this.#busy = true;
    holdEventLoop(this.#native, true);
    this.#cancelRequested = false;
    const values = params.length === 0 ? undefined : toNativeParams(params);
    if (options.timeoutMs + this.#margin <= this.#boundMs || this.#boundSql === undefined) {
      return new Promise<DriverResult<R>>((resolve, reject) => this.#run(sql, values, options.rowMode, resolve, reject));
    }
    return this.#raiseBoundThenRun<R>(sql, values, options);
  }

  /**
   * Stop the running statement with `KILL QUERY` from the driver's side connection; resolves
   * once the server accepted it. The pending `execute` then rejects (also when the statement
   * happened to finish first), and the connection stays usable.
   * @throws {ConnectionError} when the side connection cannot be opened.
   */
  async cancel(): Promise<void> {
    const threadId = this.#native.threadId;
    if (!this.#busy || this.#broken || threadId === null) return;
    this.#cancelRequested = true;
    await this.#canceller.killQuery(threadId);
  }

  /**
   * Round trip to the server (COM_PING).
   * @throws {AbortedError} when `signal` aborts first (the connection is then destroyed).
   * @throws {ConnectionError} when the connection is unusable.
   */
  ping(options: { signal: AbortSignal }): Promise<void> {
    const { signal } = options;
    if (this.#broken) return Promise.reject(new ConnectionError(`${this.#alias}: connection is closed`));
    if (signal.aborted) return Promise.reject(new AbortedError(`${this.#alias}: ping aborted`, signal.reason));
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        this.destroy();
        reject(new AbortedError(`${this.#alias}: ping aborted`, signal.reason));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      holdEventLoop(this.#native, true);
      this.#native.ping((error) => {
        signal.removeEventListener('abort', onAbort);
        holdEventLoop(this.#native, false);
        if (error) {
          if (error.fatal) this.#broken = true;
          reject(mapMysqlError(error, { alias: this.#alias }));
        } else resolve();
      });
    });
  }

  /** The version string from the server's handshake, e.g. '10.11.19-MariaDB-0+deb12u1' or '8.4.3'. */
  serverVersion(): Promise<string> {
    return Promise.resolve(this.#serverVersion);
  }

  /** Send COM_QUIT and wait for the server to close the session. */
  close(): Promise<void> {
    if (this.#broken) {
      this.destroy();
      return Promise.resolve();
    }
    this.#broken = true;
    holdEventLoop(this.#native, true);
    return new Promise<void>((resolve) => {
      this.#native.end(() => {
        destroyNative(this.#native);
        resolve();
      });
    });
  }

  /** Close the socket at once; a pending `execute` rejects with `ConnectionError`. */
  destroy(): void {
    this.#broken = true;
    destroyNative(this.#native);
    this.#settle(new ConnectionError(`${this.#alias}: connection destroyed`), undefined);
  }

  #run(
    sql: string,
    values: readonly unknown[] | undefined,
    rowMode: RowMode,
    resolve: (result: DriverResult<never>) => void,
    reject: (error: unknown) => void,
  ): void {
    this.#resolve = resolve;
    this.#reject = reject;
    this.#start(sql, values, rowMode);
  }

  #start(sql: string, values: readonly unknown[] | undefined, rowMode: RowMode): void {
    this.#sql = sql;
    this.#values = values;
    this.#rowMode = rowMode;
    this.#fallback = false;
    const statement = rowMode === 'array' ? { sql, rowsAsArray: true } : sql;
    if (values === undefined) this.#native.query(statement, this.#onResult);
    else this.#native.execute(statement, values, this.#onResult);
  }

  /** Rare path: this call's timeout needs a higher server-side bound, so SET it first, then run the statement. */
  #raiseBoundThenRun<R>(sql: string, values: readonly unknown[] | undefined, options: DriverExecuteOptions): Promise<DriverResult<R>> {
    const boundMs = boundMsFor(options.timeoutMs, this.#margin);
    this.#next = { sql, values, rowMode: options.rowMode, boundMs };
    const setSql = `SET ${(this.#boundSql as BoundSql)(boundMs)}`;
    return new Promise<DriverResult<R>>((resolve, reject) => this.#run(setSql, undefined, 'object', resolve, reject));
  }

  /** mysql2's callback for every statement, created once per connection. */
  readonly #onResult = (error: NativeError | null, result?: unknown, fields?: readonly unknown[]): void => {
    if (this.#resolve === undefined) return;
    if (error) {
      if (error.errno === UNSUPPORTED_PS && !this.#fallback && this.#values !== undefined) {
        // mysql2 formats the values client-side here (one round trip, no prepare).
        this.#fallback = true;
        const statement = this.#rowMode === 'array' ? { sql: this.#sql, rowsAsArray: true } : this.#sql;
        this.#native.query(statement, this.#values, this.#onResult);
        return;
      }
      if (error.fatal) this.#broken = true;
      // A prepared statement DDL elsewhere invalidated: drop mysql2's cached one so a re-run prepares it anew.
      if (error.errno === NEED_REPREPARE && this.#values !== undefined) this.#native.unprepare(this.#sql);
      this.#settle(mapMysqlError(error, { alias: this.#alias, sql: this.#sql }), undefined);
      return;
    }
    const next = this.#next;
    if (next !== undefined) {
      this.#next = undefined;
      this.#boundMs = next.boundMs === 0 ? Infinity : next.boundMs;
      if (!this.#cancelRequested) {
        this.#start(next.sql, next.values, next.rowMode);
        return;
      }
    }
    if (this.#cancelRequested) {
      // MySQL ends a killed SLEEP() with a normal result; the caller asked for a stop either way.
      this.#settle(this.#interrupted(this.#sql), undefined);
      return;
    }
    this.#settle(undefined, this.#toResult(result, fields));
  };

  #toResult(result: unknown, fields: readonly unknown[] | undefined): DriverResult<never> {
    if (!Array.isArray(result)) {
      const header = result as { affectedRows?: number; insertId?: number | string };
      const insertId = header.insertId;
      if (insertId === undefined || insertId === 0 || insertId === '0') return { rows: [], affectedRows: header.affectedRows ?? 0 };
      return { rows: [], affectedRows: header.affectedRows ?? 0, insertId: typeof insertId === 'string' ? BigInt(insertId) : insertId };
    }
    let rows: unknown[] = result;
    let columns = fields as readonly NativeField[] | undefined;
    if (columns !== undefined && Array.isArray(columns[0])) {
      // CALL returns several result sets; the first one holds the rows.
      rows = result[0] as unknown[];
      columns = columns[0] as readonly NativeField[];
    }
    if (columns !== undefined && rows.length > 0) convertBigIntColumns(rows, columns, this.#rowMode);
    return { rows: rows as never[], affectedRows: 0 };
  }

  #settle(error: unknown, result: DriverResult<never> | undefined): void {
    const resolve = this.#resolve;
    const reject = this.#reject;
    this.#resolve = undefined;
    this.#reject = undefined;
    this.#values = undefined;
    this.#next = undefined;
    this.#busy = false;
    holdEventLoop(this.#native, false);
    if (resolve === undefined || reject === undefined) return;
    if (error !== undefined) reject(error);
    else resolve(result as DriverResult<never>);
  }

  #interrupted(sql: string): QueryError {
    return new QueryError(`${this.#alias}: query execution was interrupted`, {
      dialect: 'mysql',
      sqlState: '70100',
      vendorCode: '1317',
      sql,
    });
  }

  #error(message: string, sql: string): QueryError {
    return new QueryError(`${this.#alias}: ${message}`, { dialect: 'mysql', sql });
  }
  /**
   * The rows of a statement streamed with backpressure (see mysql-stream.ts). The statement is
   * exempt from MariaDB's session `max_statement_time`, which would otherwise count the caller's
   * time between batches; core bounds each batch instead. (MySQL's `max_execution_time` still applies.)
   */
  stream<R = unknown>(sql: string, params: readonly unknown[], options: DriverStreamOptions): DriverRowStream<R> {
    if (this.#broken) throw new ConnectionError(`${this.#alias}: connection is closed`);
    if (this.#busy) throw this.#error('connection is busy with another statement', sql);
    this.#busy = true;
    this.#cancelRequested = false;
    const threadId = this.#native.threadId;
    return mysqlRowStream<R>(
      {
        alias: this.#alias,
        native: this.#native as unknown as StreamingNative,
        unboundPrefix: isMariadbVersion(this.#serverVersion) && this.#boundSql !== undefined ? 'SET STATEMENT max_statement_time = 0 FOR ' : '',
        // Once per statement: a second KILL QUERY could reach the session after the statement ended.
        killQuery: () => {
          if (threadId === null || this.#cancelRequested) return Promise.resolve();
          this.#cancelRequested = true;
          return this.#canceller.killQuery(threadId);
        },
        convertRows: (rows, fields) => convertBigIntColumns(rows, fields, options.rowMode),
        ended: () => {
          this.#busy = false;
        },
      },
      sql,
      params.length === 0 ? undefined : toNativeParams(params),
      options,
    );
  }
}
