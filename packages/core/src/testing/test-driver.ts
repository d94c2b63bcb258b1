import type { DatabaseConfig } from '../config/database-config.js';
import type {
  Dialect,
  Driver,
  DriverCapabilities,
  DriverConnectOptions,
  DriverConnection,
  DriverExecuteOptions,
  DriverResult,
  PipelinedStatement,
  ReplicationSql,
} from '../driver/driver.js';
import { TestDriverError, testDialect } from './test-dialect.js';


/** A row of a scripted table or statement. */
export type TestRow = Record<string, unknown>;

/**
 * What a scripted statement answers: rows, a whole result, or a function of the parameters and
 * the connection running it (it may throw a `TestDriverError`, or call `connection.break()` to
 * make the session die under the statement). Functions run synchronously.
 */
export type TestAnswer =
  | readonly TestRow[]
  | { rows?: readonly TestRow[]; affectedRows?: number; insertId?: number | bigint | string }
  | ((params: readonly unknown[], connection: TestConnection) => readonly TestRow[] | { rows?: readonly TestRow[]; affectedRows?: number; insertId?: number | bigint | string });

/** How `connect()` fails: refused (retryable), credentials rejected (not retryable), or hanging until its signal aborts. */
export type ConnectFailure = 'refused' | 'auth' | 'hang';

/** One thing that happened to a test connection, in order, in `driver.events`. */
export interface TestEvent {
  /** The connection's `id` (0 for a connection attempt that failed). */
  readonly connection: number;
  readonly type: 'open' | 'connect-failed' | 'execute' | 'done' | 'failed' | 'cancel' | 'ping' | 'break' | 'close' | 'destroy';
  /** The statement, for execute / done / failed. */
  readonly sql?: string;
  /** The host of a connection or connection attempt. */
  readonly host?: string;
}

/** Counters of everything the driver did, for assertions. */
export interface TestDriverStats {
  connectAttempts: number;
  opened: number;
  closed: number;
  destroyed: number;
  pings: number;
  cancels: number;
  statements: number;
  /** Statements run on the caller's thread (`executeNow` mode). */
  statementsNow: number;
}

export interface TestDriverOptions {
  /**
   * Connections implement `executeNow` (run statements on the caller's thread, like SQLite's
   * inline mode): the statements that answer at once run synchronously, SLEEP and HANG return
   * undefined ("must wait") and go through the async `execute`. Default false.
   */
  executeNow?: boolean;
  /** `capabilities.cancel`; when false core cannot stop a statement and drops its connection. Default true. */
  cancel?: boolean;
  /** What `serverVersion()` answers. Default 'test 1.0'. */
  serverVersion?: string;
  /**
   * `capabilities.pipelining`: connections implement `pipeline`, running pipelined statements one
   * after another in the order sent. `execute` while any is in flight is a violation. Default false.
   */
  pipelining?: boolean;
  /** `dialect.replication`, for tests of read replicas and commit tokens; the statements it names are scripted with `script()`. Default none. */
  replication?: ReplicationSql;
}

interface Running {
  readonly sql: string;
  readonly cancellable: boolean;
  stop(error: TestDriverError): void;
}

const TABLE_SELECT = /^SELECT \* FROM "?([A-Za-z_][\w]*)"?$/i;
const LITERAL_SELECT = /^SELECT (-?\d+)$/i;
const SLEEP = /^SLEEP (\d+)$/i;
const TRANSACTION_CONTROL = /^(BEGIN|COMMIT|ROLLBACK|SAVEPOINT |RELEASE SAVEPOINT |ROLLBACK TO SAVEPOINT )/i;

/**
 * An in-memory implementation of core's driver contract (`Driver`, `Dialect`, `DriverConnection`)
 * for tests of pools, connections and code built on `@dal/core`. No server, no I/O: every
 * behaviour a test needs is a statement or a switch.
 *
 * Statements (native SQL, SQLite rules: `?` placeholders):
 * - `SELECT 1` (any integer) answers `[{ value: 1 }]`; `SELECT ?` echoes `[{ value: param }]`;
 * - `SELECT * FROM t` answers the rows of `driver.tables.get('t')`;
 * - `SLEEP 200` answers `[]` after 200 ms; `HANG` never answers; both stop when cancelled;
 * - `HANG NOCANCEL` ignores `cancel()` (only destroying the connection ends it);
 * - `BREAK` kills the session while it runs (ECONNRESET, the connection turns `broken`);
 * - `FAIL` is rejected by the "server" (`QueryError`), `DEADLOCK` is a deadlock victim;
 * - BEGIN / COMMIT / ROLLBACK / savepoints answer nothing; anything set with `script()` answers that.
 *
 * ```ts
 * const driver = new TestDriver();
 * const db = new Database(new DatabaseConfig({ database: 'pool-test' }), driver);
 * await db.execute('SELECT ?', [42]);   // [{ value: 42 }]
 * driver.failConnect('refused');        // new connections are refused from now on
 * driver.breakAll();                    // and every open session dies
 * ```
 */
export class TestDriver implements Driver {
  readonly specVersion = 'v1' as const;
  readonly dialect: Dialect;
  readonly capabilities: DriverCapabilities;
  readonly clientName = 'dal-test-driver 1';
  /** Scripted tables for `SELECT * FROM name`. */
  readonly tables = new Map<string, TestRow[]>();
  /** Every connection opened, in order (`connections[0].id === 1`). */
  readonly connections: TestConnection[] = [];
  /** Everything that happened, in order. */
  readonly events: TestEvent[] = [];
  /**
   * Breaches of the contract by the code under test (two statements at once on one connection,
   * a statement after close): each also fails its call. A test can assert this stays empty.
   */
  readonly violations: string[] = [];
  readonly stats: TestDriverStats = { connectAttempts: 0, opened: 0, closed: 0, destroyed: 0, pings: 0, cancels: 0, statements: 0, statementsNow: 0 };
  /** How long after `cancel()` a cancellable statement stops (a cancel is delivered at once, the statement winds down later). */
  cancelLatencyMs = 0;
  /** Times `close()` was called (core calls it when a pool closes). */
  driverCloses = 0;
  readonly #runsNow: boolean;
  readonly #pipelines: boolean;
  readonly #serverVersion: string;
  readonly #scripts = new Map<string, TestAnswer>();
  /** Connect failure by host; '*' applies to every host without its own. */
  readonly #connectFailures = new Map<string, ConnectFailure>();

  constructor(options: TestDriverOptions = {}) {
    this.#runsNow = options.executeNow ?? false;
    this.#pipelines = options.pipelining ?? false;
    this.#serverVersion = options.serverVersion ?? 'test 1.0';
    this.dialect = options.replication === undefined ? testDialect : Object.freeze({ ...testDialect, replication: options.replication });
    const capabilities: DriverCapabilities = { cancel: options.cancel ?? true, savepoints: true, transactionalDdl: true, returning: false, sync: false };
    this.capabilities = Object.freeze(this.#pipelines ? { ...capabilities, pipelining: true } : capabilities);
  }

  /** Connections neither closed nor destroyed. */
  get openConnections(): number {
    return this.connections.filter((c) => c.open).length;
  }

  /** Make `sql` (native, exact) answer `answer` from now on. */
  script(sql: string, answer: TestAnswer): this {
    this.#scripts.set(sql.trim(), answer);
    return this;
  }

  /**
   * Make new connections fail, to every host or one (`config.host`), until called again with
   * `false`. 'hang' waits until the connect signal aborts (creation timeout, pool closing).
   */
  failConnect(failure: ConnectFailure | false, options: { host?: string } = {}): this {
    const key = options.host ?? '*';
    if (failure === false) this.#connectFailures.delete(key);
    else this.#connectFailures.set(key, failure);
    return this;
  }

  /** Kill every open session, as a server restart would (see `TestConnection.break`). */
  breakAll(): void {
    for (const connection of this.connections) if (connection.open) connection.break();
  }

  connect(config: DatabaseConfig, options: DriverConnectOptions): Promise<DriverConnection> {
    this.stats.connectAttempts++;
    const host = config.host;
    const failure = this.#connectFailures.get(host) ?? this.#connectFailures.get('*');
    const fail = (code: 'ECONNREFUSED' | 'EAUTH', message: string): Promise<never> => {
      this.events.push({ connection: 0, type: 'connect-failed', host });
      return Promise.reject(this.dialect.mapError(new TestDriverError(code, message), { alias: config.alias }));
    };
    if (options.signal.aborted) return Promise.reject(options.signal.reason);
    if (failure === 'refused') return fail('ECONNREFUSED', `connect ECONNREFUSED ${host}:${config.port ?? 0}`);
    if (failure === 'auth') return fail('EAUTH', `password authentication failed for user "${config.user ?? ''}"`);
    if (failure === 'hang') {
      return new Promise((_, reject) => {
        options.signal.addEventListener(
          'abort',
          () => {
            this.events.push({ connection: 0, type: 'connect-failed', host });
            reject(options.signal.reason);
          },
          { once: true },
        );
      });
    }
    const connection = new TestConnection(this, this.connections.length + 1, host, this.#runsNow, this.#pipelines);
    this.connections.push(connection);
    this.stats.opened++;
    this.events.push({ connection: connection.id, type: 'open', host });
    return Promise.resolve(connection);
  }

  async close(): Promise<void> {
    this.driverCloses++;
  }

  /** @internal How long `sql` takes when it does not answer at once (SLEEP, HANG); undefined otherwise. */
  waitOf(sql: string): { waitMs: number; cancellable: boolean } | undefined {
    if (this.#scripts.has(sql)) return undefined;
    const sleep = SLEEP.exec(sql);
    if (sleep !== null) return { waitMs: Number(sleep[1]), cancellable: true };
    if (/^HANG$/i.test(sql)) return { waitMs: Infinity, cancellable: true };
    if (/^HANG NOCANCEL$/i.test(sql)) return { waitMs: Infinity, cancellable: false };
    return undefined;
  }

  /** @internal What a statement that answers at once answers; throws its `TestDriverError`. */
  answer(sql: string, params: readonly unknown[], connection: TestConnection): DriverResult<TestRow> {
    const scripted = this.#scripts.get(sql);
    if (scripted !== undefined) return resultOf(typeof scripted === 'function' ? scripted(params, connection) : scripted);
    let match: RegExpExecArray | null;
    if ((match = LITERAL_SELECT.exec(sql)) !== null) return resultOf([{ value: Number(match[1]) }]);
    if (/^SELECT \?$/i.test(sql)) return resultOf([{ value: params[0] }]);
    if ((match = TABLE_SELECT.exec(sql)) !== null) {
      const rows = this.tables.get(match[1]!);
      if (rows === undefined) throw new TestDriverError('EQUERY', `no such table: ${match[1]}`);
      return resultOf(rows.map((row) => ({ ...row })));
    }
    if (/^BREAK$/i.test(sql)) {
      connection.break();
      return resultOf([]);
    }
    if (/^FAIL$/i.test(sql)) throw new TestDriverError('EQUERY', 'statement failed as asked (FAIL)');
    if (/^DEADLOCK$/i.test(sql)) throw new TestDriverError('EDEADLOCK', 'deadlock detected (DEADLOCK)');
    if (TRANSACTION_CONTROL.test(sql)) return resultOf([]);
    throw new TestDriverError('EQUERY', `the test driver does not know this statement: ${sql}`);
  }

  /** @internal */
  get serverVersionString(): string {
    return this.#serverVersion;
  }
}

function resultOf(answer: Exclude<TestAnswer, (...args: never[]) => unknown>): DriverResult<TestRow> {
  if (Array.isArray(answer)) return { rows: [...(answer as readonly TestRow[])], affectedRows: 0 };
  const full = answer as { rows?: readonly TestRow[]; affectedRows?: number; insertId?: number | bigint | string };
  const result: { rows: TestRow[]; affectedRows: number; insertId?: number | bigint | string } = { rows: [...(full.rows ?? [])], affectedRows: full.affectedRows ?? 0 };
  if (full.insertId !== undefined) result.insertId = full.insertId;
  return result;
}

function shaped<R>(result: DriverResult<TestRow>, options: DriverExecuteOptions): DriverResult<R> {
  const rows = options.rowMode === 'array' ? result.rows.map((row) => Object.values(row)) : result.rows;
  return { ...result, rows: (options.firstRow === true ? rows.slice(0, 1) : rows) as R[] };
}

/**
 * One in-memory session of a `TestDriver`. It enforces core's side of the contract: running a
 * second statement while one runs, or using it after `close()`/`destroy()`, fails the test loudly.
 */
export class TestConnection implements DriverConnection {
  /** 1-based, in opening order. */
  readonly id: number;
  /** The host it was opened to (`config.host`). */
  readonly host: string;
  /** Statements it ran, native SQL, in order. */
  readonly statements: string[] = [];
  readonly #driver: TestDriver;
  #broken = false;
  #closed = false;
  #destroyed = false;
  #running: Running | undefined;
  /** Run statements on the caller's thread; present only in `executeNow` mode, as the contract reads it. */
  readonly executeNow?: <R = unknown>(sql: string, params: readonly unknown[], options: DriverExecuteOptions) => DriverResult<R> | undefined;
  /** Pipelined statements sent and not settled yet (pipelining mode). */
  #pipelined = 0;
  /** Settles when the last pipelined statement did: the next one runs after it. */
  #pipelineTail: Promise<unknown> = Promise.resolve();
  /** Send a statement behind those in flight; present only in pipelining mode. */
  readonly pipeline?: <R = unknown>(sql: string, params: readonly unknown[], options: DriverExecuteOptions) => PipelinedStatement<R>;

  /** @internal Opened by `TestDriver.connect`. */
  constructor(driver: TestDriver, id: number, host: string, runsNow: boolean, pipelines = false) {
    this.#driver = driver;
    this.id = id;
    this.host = host;
    if (runsNow) this.executeNow = (sql, params, options) => this.#executeNow(sql, params, options);
    if (pipelines) this.pipeline = (sql, params, options) => this.#pipeline(sql, params, options);
  }

  /** Pipelined statements in flight on it now. */
  get pipelined(): number {
    return this.#pipelined;
  }

  get broken(): boolean {
    return this.#broken || this.#destroyed;
  }

  /** Neither closed nor destroyed. */
  get open(): boolean {
    return !this.#closed && !this.#destroyed;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get destroyed(): boolean {
    return this.#destroyed;
  }

  /** The statement running now, if any. */
  get running(): string | undefined {
    return this.#running?.sql;
  }

  /** Kill the session (a DBA's terminate, a restart): the running statement fails with ECONNRESET and the connection is `broken`. */
  break(): void {
    if (this.#broken) return;
    this.#broken = true;
    this.#record('break');
    this.#running?.stop(new TestDriverError('ECONNRESET', 'server closed the connection unexpectedly'));
  }

  execute<R = unknown>(sql: string, params: readonly unknown[], options: DriverExecuteOptions): Promise<DriverResult<R>> {
    if (this.#pipelined > 0) {
      try {
        this.#violation(`execute "${sql}" while ${this.#pipelined} pipelined statement(s) are in flight (a shared connection)`);
      } catch (error) {
        return Promise.reject(error);
      }
    }
    return this.#execute<R>(sql, params, options);
  }

  /**
   * Pipelining mode: the statement runs once those sent before it settled. Cancelling one still
   * queued drops it (it never runs); cancelling the running one is `cancel()`.
   */
  #pipeline<R>(sql: string, params: readonly unknown[], options: DriverExecuteOptions): PipelinedStatement<R> {
    if (!this.open) this.#violation(`pipelined statement after close/destroy: ${sql}`);
    this.#pipelined++;
    let state: 'queued' | 'running' | 'done' = 'queued';
    const result = this.#pipelineTail
      .then(() => {
        if (state === 'done') throw new TestDriverError('ECANCELED', 'dropped before it ran');
        state = 'running';
        this.#assertAlive();
        return this.#execute<R>(sql, params, options);
      })
      .finally(() => {
        state = 'done';
        this.#pipelined--;
      });
    this.#pipelineTail = result.catch(() => undefined);
    return {
      result,
      cancel: async () => {
        if (state === 'queued') state = 'done';
        else if (state === 'running') await this.cancel();
      },
    };
  }

  #execute<R>(sql: string, params: readonly unknown[], options: DriverExecuteOptions): Promise<DriverResult<R>> {
    const wait = this.#driver.waitOf(sql);
    if (wait === undefined) {
      try {
        return Promise.resolve(this.#runAtOnce<R>(sql, params, options));
      } catch (error) {
        return Promise.reject(error);
      }
    }
    try {
      this.#begin(sql);
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise<DriverResult<R>>((resolve, reject) => {
      const timer = wait.waitMs === Infinity ? undefined : setTimeout(() => finish(undefined), wait.waitMs);
      const finish = (error: TestDriverError | undefined): void => {
        if (this.#running !== running) return;
        clearTimeout(timer);
        this.#running = undefined;
        if (error === undefined) {
          this.#record('done', sql);
          resolve(shaped<R>({ rows: [], affectedRows: 0 }, options));
        } else {
          this.#record('failed', sql);
          reject(error);
        }
      };
      const running: Running = { sql, cancellable: wait.cancellable, stop: finish };
      this.#running = running;
    });
  }

  async cancel(): Promise<void> {
    this.#driver.stats.cancels++;
    this.#record('cancel');
    const running = this.#running;
    if (running === undefined || !running.cancellable) return;
    const stop = (): void => running.stop(new TestDriverError('ECANCELED', 'canceling statement due to user request'));
    if (this.#driver.cancelLatencyMs > 0) setTimeout(stop, this.#driver.cancelLatencyMs);
    else stop();
  }

  async ping(_options: { signal: AbortSignal }): Promise<void> {
    this.#driver.stats.pings++;
    this.#record('ping');
    this.#assertAlive();
  }

  async serverVersion(): Promise<string> {
    this.#assertAlive();
    return this.#driver.serverVersionString;
  }

  async close(): Promise<void> {
    if (!this.open) return;
    this.#closed = true;
    this.#driver.stats.closed++;
    this.#record('close');
    this.#running?.stop(new TestDriverError('ECONNRESET', 'connection closed'));
  }

  destroy(): void {
    if (!this.open) return;
    this.#destroyed = true;
    this.#driver.stats.destroyed++;
    this.#record('destroy');
    this.#running?.stop(new TestDriverError('ECONNRESET', 'connection destroyed'));
  }

  #executeNow<R>(sql: string, params: readonly unknown[], options: DriverExecuteOptions): DriverResult<R> | undefined {
    // A statement that takes time would block the thread: "must wait", core goes through execute.
    if (this.#driver.waitOf(sql) !== undefined) return undefined;
    this.#driver.stats.statementsNow++;
    return this.#runAtOnce<R>(sql, params, options);
  }

  /** A statement that answers at once; throws its native error like a client library. */
  #runAtOnce<R>(sql: string, params: readonly unknown[], options: DriverExecuteOptions): DriverResult<R> {
    this.#begin(sql);
    let result: DriverResult<TestRow>;
    try {
      this.#assertAlive();
      result = this.#driver.answer(sql, params, this);
      // The session died under the statement (BREAK, or a script that called break()).
      this.#assertAlive();
    } catch (error) {
      this.#record('failed', sql);
      throw error;
    }
    this.#record('done', sql);
    return shaped<R>(result, options);
  }

  #begin(sql: string): void {
    if (!this.open) this.#violation(`statement after close/destroy: ${sql}`);
    if (this.#running !== undefined) this.#violation(`"${sql}" started while "${this.#running.sql}" runs (one statement at a time)`);
    this.#driver.stats.statements++;
    this.statements.push(sql);
    this.#record('execute', sql);
  }

  /** Core broke its side of the contract: recorded in `driver.violations` and thrown. */
  #violation(what: string): never {
    const message = `test connection #${this.id}: ${what}`;
    this.#driver.violations.push(message);
    throw new Error(message);
  }

  #assertAlive(): void {
    if (this.broken) throw new TestDriverError('ECONNRESET', 'server closed the connection unexpectedly');
  }

  #record(type: TestEvent['type'], sql?: string): void {
    this.#driver.events.push(sql === undefined ? { connection: this.id, type, host: this.host } : { connection: this.id, type, sql, host: this.host });
  }
}
