import {
  AbortedError,
  ConnectionError,
  type DriverConnection,
  type DriverExecuteOptions,
  type DriverResult,
  type DriverRowStream,
  type DriverStreamOptions,
  type PoolerMode,
  type PipelinedStatement,
} from '@dal/core';
import type pg from 'pg';
import { sendCancelRequest } from './cancel-request.js';
import { mapPostgresError } from './map-error.js';
import { rejectSessionState, sessionStateLost, sessionStateOf, type SessionState } from './pooler-guard.js';
import { preparePostgresParams } from './postgres-types.js';
import { cursorStream } from './postgres-stream.js';
import { StatementPipeline } from './pipeline.js';

/** How far the server-side `statement_timeout` trails the caller's own timeout. */
export const STATEMENT_TIMEOUT_BACKSTOP_MS = 1_000;

/** Largest `statement_timeout` PostgreSQL accepts (INT_MAX ms). */
const MAX_STATEMENT_TIMEOUT_MS = 2_147_483_647;

/** The `statement_timeout` value for a bound of `ms`: whole ms, or 0 (none) beyond what the server accepts. */
export function statementTimeoutSetting(ms: number): number {
  return ms > MAX_STATEMENT_TIMEOUT_MS ? 0 : Math.ceil(ms);
}

/** Once this many distinct statements were seen only once, forget them (bounds memory for dynamic SQL). */
const SEEN_ONCE_LIMIT = 1_000;

/** Statements whose result rows count as "affected" (a SELECT's row count is not). */
const WRITE_COMMANDS = new Set(['INSERT', 'UPDATE', 'DELETE', 'MERGE', 'COPY']);

/**
 * A `*` select or RETURNING list (`SELECT *`, `SELECT t.*`, `, *`, `RETURNING *`, after comments).
 * Its result columns change when another session adds a column, and PostgreSQL then refuses the
 * prepared statement ("cached plan must not change result type"), which aborts an open
 * transaction: such statements are never prepared. A false positive only costs the preparation.
 */
const STAR_LIST = /(?:\bselect\s+(?:distinct\s+)?|,\s*|\breturning\s+)(?:\/\*[^]*?\*\/\s*)*(?:(?:"[^"]*"|\w+)\.)?\*/i;

/** A statement that opens a transaction block (core's BEGIN [ISOLATION LEVEL ...]). */
const TRANSACTION_START = /^\s*(?:begin|start\s+transaction)\b[^;]*;?\s*$/i;

/** SQLSTATEs after which a named prepared statement must not be reused (plan result changed, statement gone). */
const STALE_STATEMENT_STATES = new Set(['0A000', '26000']);

/** The parts of pg's Client used here that its typings leave out. */
interface PgClientInternals {
  processID: number | null;
  secretKey: number | null;
  getTransactionStatus(): 'I' | 'T' | 'E' | null;
}

/** Settings one PostgresConnection needs; built by PostgresDriver. */
export interface PostgresConnectionSettings {
  readonly alias: string;
  /** Host name, IP address or socket directory, used for cancel requests. */
  readonly host: string;
  readonly port: number;
  /** `host:port` for messages. */
  readonly address: string;
  /** The `statement_timeout` the session started with, in ms (0 = none). */
  readonly statementTimeoutMs: number;
  /** Use named prepared statements for parameterized SQL seen twice or more. */
  readonly preparedStatements: boolean;
  /** Most named prepared statements kept per connection. */
  readonly preparedStatementCacheSize: number;
  /** Bound on delivering a cancel request and on a graceful close. */
  readonly controlTimeoutMs: number;
  /** The server version reported at startup, when it was. */
  readonly serverVersion: string | undefined;
  /**
   * A transaction-mode pooler in front of the server: the session is shared between
   * transactions, so statement_timeout is only ever set with SET LOCAL inside a transaction and
   * statements that leave session state are refused.
   */
  readonly pooler: PoolerMode | undefined;
  /** Offer `pipeline` (pg has pipeline mode and the driver declares the capability). */
  readonly pipelining: boolean;
}

/** A statement with a name or array rows needs pg's config-object form. */
function queryConfig(text: string, values: unknown[], name: string | undefined, rowMode: DriverExecuteOptions['rowMode']): pg.QueryConfig {
  const config: pg.QueryConfig & { rowMode?: 'array' } = { text, values };
  if (name !== undefined) config.name = name;
  if (rowMode === 'array') config.rowMode = 'array';
  return config;
}

/** The socket's hold on the event loop; optional, since pg's `stream` option may supply any Duplex. */
interface Refable {
  ref?(): unknown;
  unref?(): unknown;
}

/** pg's answer as a driver result: several statements in one parameterless string give one result each, the last is reported. */
function driverResult<R>(result: pg.QueryResult | pg.QueryResult[]): DriverResult<R> {
  const last = Array.isArray(result) ? result[result.length - 1] : result;
  if (last === undefined) return { rows: [], affectedRows: 0 };
  return {
    rows: last.rows as R[],
    affectedRows: last.rowCount !== null && WRITE_COMMANDS.has(last.command) ? last.rowCount : 0,
  };
}

function timeoutOrInfinity(ms: number): number {
  return ms > 0 ? ms : Number.POSITIVE_INFINITY;
}

/**
 * One open PostgreSQL session on a `pg.Client`, driven by core: runs one statement at a time,
 * cancels it with a CancelRequest, keeps the server-side `statement_timeout` just behind the
 * caller's timeout, and caches named prepared statements for repeated SQL.
 */
export class PostgresConnection implements DriverConnection {
  readonly #client: pg.Client;
  readonly #settings: PostgresConnectionSettings;
  readonly #statementNames = new Map<string, string>();
  readonly #seenOnce = new Set<string>();
  #statementCounter = 0;
  /** Statements sent with `pipeline`, when this connection offers it. */
  readonly #pipeline: StatementPipeline | undefined;
  #broken = false;
  #running = false;
  /** Lower bound of the session's current statement_timeout (Infinity when disabled). */
  #statementTimeoutMs: number;
  /** The value last set outside a transaction, which a rollback cannot undo. */
  #committedStatementTimeoutMs: number;
  /** A raise issued inside a transaction, which a rollback would undo. */
  #raisedInTransaction = false;
  /**
   * Without `pooler`: session state this connection set (a SET, a LISTEN, ...) and the server
   * session it went to, while the connection looks proxied (see #watchSessionState).
   */
  #sessionState: { readonly kind: SessionState; readonly backendPid: number } | undefined;
  /** The server pid equals the cancel key's: no pooler in between, nothing to watch. */
  #direct = false;

  /** Wrap a connected client; use `PostgresDriver.connect` rather than this. */
  constructor(client: pg.Client, settings: PostgresConnectionSettings) {
    this.#client = client;
    this.#settings = settings;
    // Behind a pooler the session's own statement_timeout is unknown (none was sent): 0 makes the
    // first statement of each transaction set its bound with SET LOCAL.
    this.#statementTimeoutMs = settings.pooler === undefined ? timeoutOrInfinity(settings.statementTimeoutMs) : 0;
    this.#committedStatementTimeoutMs = this.#statementTimeoutMs;
    client.on('error', this.#markBroken);
    client.on('end', this.#markBroken);
    this.#holdEventLoop(false);
    this.#pipeline = settings.pipelining
      ? new StatementPipeline({
          client,
          alias: settings.alias,
          sendCancel: () => this.#sendCancel(),
          busy: (busy) => this.#holdEventLoop(busy),
          destroy: () => this.destroy(),
        })
      : undefined;
  }

  /**
   * An idle session must not keep a program that forgot `db.close()` alive; one with a statement,
   * ping or close in flight must, or the program would end before its result arrives.
   */
  #holdEventLoop(hold: boolean): void {
    // Read each time: pg swaps in a TLS socket while connecting.
    const socket = this.#client.connection.stream as unknown as Refable;
    if (hold) socket.ref?.();
    else socket.unref?.();
  }

  readonly #markBroken = (): void => {
    this.#broken = true;
    this.#pipeline?.failUnsent();
  };

  /** True once the socket closed or failed; core then discards the connection. */
  get broken(): boolean {
    return this.#broken;
  }

  /** The server process id of this session (`pg_backend_pid()`). */
  get processId(): number {
    return (this.#client as unknown as PgClientInternals).processID ?? -1;
  }

  /** @inheritDoc */
  async execute<R = unknown>(sql: string, params: readonly unknown[], options: DriverExecuteOptions): Promise<DriverResult<R>> {
    if (this.#settings.pooler !== undefined) rejectSessionState(sql, this.#settings.pooler, this.#settings.alias);
    const name = params.length > 0 && this.#settings.preparedStatements ? this.#statementName(sql) : undefined;
    const values = preparePostgresParams(params);
    // Marked running before a possible SET too, so a cancel arriving during it is not lost.
    this.#running = true;
    this.#holdEventLoop(true);
    let result: pg.QueryResult | pg.QueryResult[];
    try {
      if (this.#sessionState !== undefined) await this.#checkSessionKept();
      if (options.timeoutMs + STATEMENT_TIMEOUT_BACKSTOP_MS > this.#statementTimeoutMs) {
        await this.#raiseStatementTimeout(options.timeoutMs + STATEMENT_TIMEOUT_BACKSTOP_MS);
      }
      const text = this.#withTransactionBound(sql, values, options.timeoutMs);
      result =
        name === undefined && options.rowMode === 'object'
          ? await this.#client.query(text, values)
          : await this.#client.query(queryConfig(text, values, name, options.rowMode));
      if (this.#settings.pooler === undefined && !this.#direct && this.#sessionState === undefined) {
        // Checked here, not in an async method, so that most statements take no extra promise hop.
        const kind = sessionStateOf(sql);
        if (kind !== undefined) await this.#watchSessionState(kind);
      }
    } catch (error) {
      if (name !== undefined && STALE_STATEMENT_STATES.has((error as { code?: string }).code ?? '')) {
        this.#statementNames.delete(sql);
      }
      throw mapPostgresError(error, { alias: this.#settings.alias, sql, host: this.#settings.address });
    } finally {
      this.#running = false;
      this.#holdEventLoop(false);
      if (this.#raisedInTransaction) this.#afterTransactionRaise();
    }
    return driverResult<R>(result);
  }

  /**
   * Send one autocommit statement behind those in flight (see pipeline.ts); core calls it only on a
   * connection it shares, never while `execute` runs on it. A statement whose timeout is beyond
   * the session's `statement_timeout` is preceded by a pipelined SET raising it.
   */
  pipeline<R = unknown>(sql: string, params: readonly unknown[], options: DriverExecuteOptions): PipelinedStatement<R> {
    if (this.#pipeline === undefined) throw new ConnectionError(`${this.#settings.alias}: this connection does not pipeline statements`, { retryable: false });
    const name = params.length > 0 && this.#settings.preparedStatements ? this.#statementName(sql) : undefined;
    const values = preparePostgresParams(params);
    const wantedMs = options.timeoutMs + STATEMENT_TIMEOUT_BACKSTOP_MS;
    if (wantedMs > this.#statementTimeoutMs) {
      const value = statementTimeoutSetting(wantedMs);
      // Outside a transaction, so the raise stays; its failure shows as the statement's own.
      this.#pipeline.send({ text: `SET statement_timeout = ${value}` }).result.catch(() => undefined);
      this.#statementTimeoutMs = this.#committedStatementTimeoutMs = timeoutOrInfinity(value);
    }
    const sent = this.#pipeline.send(queryConfig(sql, values, name, options.rowMode));
    const result = sent.result.then(
      (answer) => driverResult<R>(answer),
      (error: unknown) => {
        if (name !== undefined && STALE_STATEMENT_STATES.has((error as { code?: string }).code ?? '')) this.#statementNames.delete(sql);
        throw mapPostgresError(error, { alias: this.#settings.alias, sql, host: this.#settings.address });
      },
    );
    return { result, cancel: sent.cancel };
  }

  /**
   * Named statement for `sql`, prepared from its second use on; undefined while the SQL is new,
   * selects `*` (see STAR_LIST) or the cache is full (a full cache simply stops preparing: no
   * eviction round trips).
   */
  #statementName(sql: string): string | undefined {
    const known = this.#statementNames.get(sql);
    if (known !== undefined) return known;
    if (this.#statementNames.size >= this.#settings.preparedStatementCacheSize || STAR_LIST.test(sql)) return undefined;
    if (!this.#seenOnce.has(sql)) {
      if (this.#seenOnce.size >= SEEN_ONCE_LIMIT) this.#seenOnce.clear();
      this.#seenOnce.add(sql);
      return undefined;
    }
    this.#seenOnce.delete(sql);
    const name = `dal_${++this.#statementCounter}`;
    this.#statementNames.set(sql, name);
    return name;
  }

  /**
   * Raise the session's statement_timeout to at least `wantedMs` (never lowered). Behind a pooler
   * only inside a transaction, with SET LOCAL (a plain SET would stay on a session other clients
   * get next); a statement outside one is bounded by core's cancel request alone.
   */
  async #raiseStatementTimeout(wantedMs: number): Promise<void> {
    const txStatus = (this.#client as unknown as PgClientInternals).getTransactionStatus();
    // In a failed transaction the SET would fail too; the statement will report the real error.
    if (txStatus === 'E') return;
    const pooled = this.#settings.pooler !== undefined;
    if (pooled && txStatus !== 'T') return;
    const value = statementTimeoutSetting(wantedMs);
    await this.#client.query(`SET ${pooled ? 'LOCAL ' : ''}statement_timeout = ${value}`);
    this.#statementTimeoutMs = timeoutOrInfinity(value);
    if (txStatus === 'T') this.#raisedInTransaction = true;
    else this.#committedStatementTimeoutMs = this.#statementTimeoutMs;
  }

  /**
   * Behind a pooler, a parameterless BEGIN carries the transaction's statement_timeout in the same
   * round trip (`BEGIN; SET LOCAL ...`), so its statements need no SET of their own unless one
   * asks for longer. Any other statement goes as it is.
   */
  #withTransactionBound(sql: string, values: unknown[], timeoutMs: number): string {
    if (this.#settings.pooler === undefined || values.length > 0 || !TRANSACTION_START.test(sql)) return sql;
    if ((this.#client as unknown as PgClientInternals).getTransactionStatus() !== 'I') return sql;
    const value = statementTimeoutSetting(timeoutMs + STATEMENT_TIMEOUT_BACKSTOP_MS);
    // Marked as raised in a transaction: should the BEGIN fail, the session is idle and execute's finally resets this.
    this.#statementTimeoutMs = timeoutOrInfinity(value);
    this.#raisedInTransaction = true;
    return `${sql.replace(/[\s;]+$/, '')}; SET LOCAL statement_timeout = ${value}`;
  }

  /**
   * After a statement that left session state, with no `pooler` set: learn the server session it
   * went to. A pid unlike the cancel key's means a pooler hands out keys of its own, so later
   * statements check they still reach that session (#checkSessionKept). Costs one round trip,
   * once per connection, and only for such statements.
   */
  async #watchSessionState(kind: SessionState): Promise<void> {
    const backendPid = await this.#backendPid();
    if (backendPid === this.processId) this.#direct = true;
    else this.#sessionState = { kind, backendPid };
  }

  /**
   * Between transactions, make sure the session state set earlier is still there: on another
   * server session it was lost here and leaked to another client, reported once.
   * @throws {UnsupportedFeatureError} naming the lost state and advising `pooler`.
   */
  async #checkSessionKept(): Promise<void> {
    const state = this.#sessionState;
    if (state === undefined || (this.#client as unknown as PgClientInternals).getTransactionStatus() !== 'I') return;
    const now = await this.#backendPid();
    if (now === state.backendPid) return;
    this.#sessionState = undefined;
    throw sessionStateLost(this.#settings.alias, state.kind, state.backendPid, now);
  }

  async #backendPid(): Promise<number> {
    try {
      const result = await this.#client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      return result.rows[0]!.pid;
    } catch (error) {
      throw mapPostgresError(error, { alias: this.#settings.alias, host: this.#settings.address });
    }
  }

  /** Once the transaction ended, fall back to the value that survives a rollback. */
  #afterTransactionRaise(): void {
    if ((this.#client as unknown as PgClientInternals).getTransactionStatus() !== 'I') return;
    this.#raisedInTransaction = false;
    this.#statementTimeoutMs = this.#committedStatementTimeoutMs;
  }

  /**
   * Stop the running statement with a PostgreSQL CancelRequest on a fresh socket; resolves once
   * the server handled it. Does nothing when no statement is running.
   * @throws {ConnectionError} when the cancel request could not be delivered.
   */
  async cancel(): Promise<void> {
    if (!this.#running || this.#broken) return;
    await this.#sendCancel();
  }

  /** A CancelRequest for whatever the session runs now. */
  async #sendCancel(): Promise<void> {
    if (this.#broken) return;
    const internals = this.#client as unknown as PgClientInternals;
    const { processID, secretKey } = internals;
    if (typeof processID !== 'number' || typeof secretKey !== 'number') {
      throw new ConnectionError(`${this.#settings.alias}: cannot cancel, the server sent no cancel key`, { retryable: false });
    }
    try {
      await sendCancelRequest(
        { host: this.#settings.host, port: this.#settings.port, processId: processID, secretKey },
        this.#settings.controlTimeoutMs,
      );
    } catch (error) {
      throw new ConnectionError(`${this.#settings.alias} (${this.#settings.address}): cancel request failed: ${(error as Error).message}`, {
        cause: error,
        host: this.#settings.address,
      });
    }
  }

  /**
   * Round trip an empty query. When `signal` aborts first, the connection is destroyed (a ping
   * that hangs means the session is unusable).
   * @throws {AbortedError} when the signal aborted; {ConnectionError} when the session is gone.
   */
  async ping(options: { signal: AbortSignal }): Promise<void> {
    const { signal } = options;
    if (signal.aborted) throw new AbortedError(`${this.#settings.alias}: ping aborted`, signal.reason);
    const onAbort = (): void => this.destroy();
    signal.addEventListener('abort', onAbort, { once: true });
    this.#holdEventLoop(true);
    try {
      await this.#client.query('');
    } catch (error) {
      if (signal.aborted) throw new AbortedError(`${this.#settings.alias}: ping aborted`, signal.reason, { cause: error });
      throw mapPostgresError(error, { alias: this.#settings.alias, host: this.#settings.address });
    } finally {
      signal.removeEventListener('abort', onAbort);
      this.#holdEventLoop(false);
    }
  }

  /** 'PostgreSQL <server_version>', from the startup parameters (no round trip). */
  async serverVersion(): Promise<string> {
    if (this.#settings.serverVersion !== undefined) return `PostgreSQL ${this.#settings.serverVersion}`;
    const result = await this.execute<{ server_version: string }>('SHOW server_version', [], { rowMode: 'object', timeoutMs: 0 });
    return `PostgreSQL ${result.rows[0]?.server_version ?? 'unknown'}`;
  }

  /**
   * Send Terminate and wait for the socket to close (a running statement is cut off); a server
   * that does not close it within the control timeout gets the socket destroyed.
   */
  async close(): Promise<void> {
    this.#broken = true;
    this.#holdEventLoop(true);
    const timer = setTimeout(() => this.destroy(), this.#settings.controlTimeoutMs);
    try {
      await this.#client.end();
    } finally {
      clearTimeout(timer);
    }
  }

  /** Destroy the socket at once. */
  destroy(): void {
    this.#broken = true;
    this.#client.connection.stream.destroy();
  }
  /** The rows of a query through a server-side cursor, a batch per FETCH (see postgres-stream.ts). */
  stream<R = unknown>(sql: string, params: readonly unknown[], options: DriverStreamOptions): DriverRowStream<R> {
    const internals = this.#client as unknown as PgClientInternals;
    return cursorStream<R>({ execute: (text, values, opts) => this.execute(text, values, opts), transactionStatus: () => internals.getTransactionStatus() }, sql, params, options);
  }
}
