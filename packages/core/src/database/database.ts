import { performance } from 'node:perf_hooks';
import { ConfigError, ConnectionError, PoolClosedError, PoolTimeoutError, UnsupportedFeatureError } from '../errors/errors.js';
import type { DatabaseConfig } from '../config/database-config.js';
import { Connection, runAndRelease, type ExecuteOptions, type Row } from '../connection/connection.js';
import { LentConnection } from '../connection/lent-connection.js';
import { SharedConnection } from '../connection/pipelined-statement.js';
import { WAITS, runStatement, settle, type ResultShape } from '../connection/statement.js';
import { instrumentation } from '../instrumentation.js';
import { PooledStatements } from './pooled-statements.js';
import { SyncConnection } from '../connection/sync-connection.js';
import type { StreamOptions } from '../connection/stream.js';
import type { Driver } from '../driver/driver.js';
import { consoleLogger, type Logger } from '../logger.js';
import { PoolManager } from '../pool/pool-manager.js';
import type { PoolRuntime } from '../pool/pool-runtime.js';
import { ReplicaHandle, type ReplicaReadOptions } from '../replicas/replica-handle.js';
import { replicationRow } from '../replicas/native-row.js';

/** A driver that is loaded on first use (what DatabaseFactory hands to Database). */
export interface DriverLoader {
  load(): Promise<Driver>;
  loadSync(): Driver;
  /**
   * The backend it loads, its dialect's name ('postgres', 'mysql', 'sqlite', ...): a Database
   * uses only pools of its own backend. When omitted, the driver is loaded to learn it.
   */
  readonly backend?: string;
}

export interface DatabaseOptions {
  /** Where slow queries, leaks and warnings go (default: console warnings and errors). */
  logger?: Logger;
  /** Keep the stack of each acquisition for leak reports (default: on unless env is 'prod'). */
  trackAcquireStacks?: boolean;
}

/** Where writes (and everything not sent to `db.replica()`) go: the replica set's primary, or the pool itself. */
function writerOf(runtime: PoolRuntime): PoolRuntime {
  return runtime.replicas?.writer ?? runtime;
}

/** A connection of the pool writes go to (see `writerOf`). */
function connectionOf(runtime: PoolRuntime, signal: AbortSignal | undefined): Promise<Connection> {
  const replicas = runtime.replicas;
  if (replicas !== undefined) return replicas.acquireWriter(signal).then(({ runtime: writer, lease }) => new Connection(writer, lease));
  return runtime.acquire(signal).then((entry) => new Connection(runtime, entry));
}

function isLoader(source: Driver | DriverLoader): source is DriverLoader {
  return typeof (source as DriverLoader).load === 'function';
}

/**
 * The connection manager of one database: pooled async connections, a sync connection, close.
 * Pools are shared by every Database of the same backend with the same `config.hash()` in the
 * process; Databases of different backends never share one, even from equal configs.
 *
 * ```ts
 * const db = DatabaseFactory.createDatabase('postgres', config);
 * const users = await db.withConnection((conn) => conn.execute('SELECT * FROM [users]'));
 * await db.close();
 * ```
 */
export class Database extends PooledStatements {
  readonly config: DatabaseConfig;
  readonly #source: Driver | DriverLoader;
  readonly #logger: Logger;
  readonly #trackStacks: boolean;
  #driver: Driver | undefined;
  /** The backend whose pools this Database uses (see PoolManager's poolKey); undefined until known. */
  #backend: string | undefined;
  #runtime: PoolRuntime | undefined;
  #sync: SyncConnection | undefined;
  #closed = false;

  /** @throws {ConfigError} when `config.backend` names another backend than `driver`'s. */
  constructor(config: DatabaseConfig, driver: Driver | DriverLoader, options: DatabaseOptions = {}) {
    super();
    this.config = config;
    this.#source = driver;
    if (isLoader(driver)) {
      this.#backend = driver.backend;
    } else {
      this.#driver = driver;
      this.#backend = driver.dialect.name;
    }
    if (config.backend !== undefined && this.#backend !== undefined && config.backend !== this.#backend) {
      throw new ConfigError(`${config.alias}: a "${this.#backend}" Database cannot use a config for the "${config.backend}" backend`);
    }
    this.#logger = options.logger ?? consoleLogger;
    this.#trackStacks = options.trackAcquireStacks ?? config.env !== 'prod';
  }

  get alias(): string {
    return this.config.alias;
  }

  /**
   * Get a pooled connection; release it with `release()` or `await using`.
   * @throws {PoolTimeoutError} when none is free within `connectionAcquisitionTimeoutMs`.
   * @throws {ConnectionError} when the server cannot be reached.
   * @throws {DriverNotInstalledError} when the backend's package is missing.
   */
  connection(options: { signal?: AbortSignal } = {}): Promise<Connection> {
    const live = this.#liveRuntime();
    if (live !== undefined) return connectionOf(live, options.signal);
    return this.#openRuntime().then((opened) => connectionOf(opened, options.signal));
  }

  /**
   * The database's synchronous connection (created on first call, closed by its `release()` or `close()`).
   * SQLite's runs on this thread; PostgreSQL's and MySQL's run in a worker thread that this thread
   * waits for, blocking the event loop during each statement (see the core README).
   * @throws {PoolTimeoutError} when `poolMax` sync connections of this config are open already
   *   (a synchronous call cannot wait for one to be released).
   * @throws {UnsupportedFeatureError} for a backend without one, or where this thread may not block.
   */
  syncConnection(): SyncConnection {
    this.#assertOpen();
    if (this.#sync !== undefined && !this.#sync.isReleased) return this.#sync;
    const driver = this.#loadDriverSync();
    if (!driver.capabilities.sync || driver.connectSync === undefined) {
      throw new UnsupportedFeatureError(
        `${this.alias}: the ${driver.dialect.name} backend has no synchronous connection; use \`await db.connection()\` or \`db.withConnection(fn)\` instead`,
        'syncConnection',
        driver.dialect.name,
      );
    }
    // The pool's runtime, built now if need be: sync statements are recorded in its metrics, and
    // its poolMax bounds the sync connections as it bounds the async ones.
    this.#backend ??= driver.dialect.name;
    const runtime = (this.#runtime = PoolManager.openSync(this.config, this.#backend, driver, { logger: this.#logger, trackAcquireStacks: this.#trackStacks }));
    const unavailable = runtime.gate.unavailableError(0);
    if (unavailable !== undefined) throw unavailable; // a synchronous call cannot wait for the probe
    if (!runtime.pool.reserveSyncConnection()) {
      const { max } = runtime.pool.sizes();
      throw new PoolTimeoutError(
        `${this.alias}: ${max} sync connections of this database are open, its poolMax; release one first (a synchronous call cannot wait for it)`,
        0,
        max,
      );
    }
    let raw;
    try {
      raw = driver.connectSync(this.config);
    } catch (error) {
      runtime.pool.releaseSyncConnection();
      throw runtime.mapError(error, undefined);
    }
    const sync = new SyncConnection(runtime, raw, () => {
      runtime.pool.releaseSyncConnection();
      if (this.#sync === sync) this.#sync = undefined;
    });
    this.#sync = sync;
    return sync;
  }

  /**
   * The read API on this database's replicas (`replicas` in the config): each statement or
   * connection goes to a healthy replica within the lag limits, else to the primary. With
   * `consistentWith: await db.commitToken()` only a replica that has replayed that commit is
   * used (waiting up to `maxWaitMs`, default 100 ms), else the primary. Send only reads through it.
   * Without replicas configured it reads from the primary.
   * @throws {ConfigError} for options of the wrong type.
   */
  replica(options: ReplicaReadOptions = {}): ReplicaHandle {
    this.#assertOpen();
    return new ReplicaHandle(
      async () => {
        const primary = this.#liveRuntime() ?? (await this.#openRuntime());
        return { primary: writerOf(primary), set: primary.replicas };
      },
      options,
      this.alias,
    );
  }

  /**
   * An opaque token for the primary's position now, taken after your commit: pass it to
   * `db.replica({ consistentWith: token })` to read your own writes from a replica (PostgreSQL:
   * the WAL LSN; MariaDB: the GTID position; MySQL: the GTID set). A plain string, safe to keep in a session or cookie.
   * @throws {UnsupportedFeatureError} for a backend without replication support, or a server that
   *   reports no position (MySQL with GTIDs off).
   */
  async commitToken(options: { signal?: AbortSignal } = {}): Promise<string> {
    const runtime = writerOf(this.#liveRuntime() ?? (await this.#openRuntime()));
    const replication = runtime.dialect.replication;
    if (replication === undefined) {
      throw new UnsupportedFeatureError(`${this.alias}: the ${runtime.dialect.name} backend has no commit positions (read replicas)`, 'commitToken', runtime.dialect.name);
    }
    const row = await replicationRow(runtime, replication, (sql) => sql.commitPositionSql, this.config.queryExecutionTimeoutMs, options.signal);
    const position = row?.['position'];
    // A token that names no position would count as replayed everywhere: read-your-writes would silently not hold.
    if (position === null || position === undefined) {
      throw new UnsupportedFeatureError(
        `${this.alias}: the server reports no replication position to wait for (on MySQL: gtid_mode is not ON)`,
        'commitToken',
        runtime.dialect.name,
      );
    }
    return String(position);
  }

  /** Drain and close this database's pool (and its sync connection). Safe to call twice. */
  async close(options: { timeoutMs?: number } = {}): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#sync?.release();
    this.#runtime = undefined;
    // Only a pool of this Database's backend; a backend never learnt means no pool was opened by it.
    if (this.#backend !== undefined) await PoolManager.closePool(this.config.hash(), { ...options, backend: this.#backend });
  }

  // --- internals ---------------------------------------------------------------------------

  /** On the writer: pipelined on a shared connection, on the lent idle one (SQLite inline), or on a checked-out one. */
  protected override statement(sql: string, params: readonly unknown[] | undefined, options: ExecuteOptions | undefined, shape: ResultShape): Promise<unknown> {
    const live = this.#liveRuntime();
    if (live === undefined) {
      return this.#openRuntime().then((opened) => this.#pooledStatement(writerOf(opened), sql, params, options, shape));
    }
    const runtime = writerOf(live);
    if (runtime.pipelines) {
      const shared = SharedConnection.share(runtime);
      if (shared !== undefined) return this.#pipelinedStatement(runtime, shared, sql, params, options, shape);
    }
    // On connections that run statements on this thread (SQLite inline), lend the idle one for it;
    // not while a tracer is installed, as a lent connection's statement may come back unrun (WAITS).
    const lent = runtime.pool.runsNow && options?.idempotent !== true && instrumentation === undefined ? LentConnection.lend(runtime) : undefined;
    if (lent === undefined) return this.#pooledStatement(runtime, sql, params, options, shape);
    let outcome: unknown;
    try {
      outcome = runStatement(runtime, lent, sql, params, options, shape);
    } catch (error) {
      lent.giveBackUnused();
      return Promise.reject(error);
    }
    return outcome === WAITS ? this.#pooledStatement(runtime, sql, params, options, shape) : settle(outcome);
  }

  /**
   * The statement pipelined on a shared connection; an `idempotent` one whose connection broke runs
   * once more, on a connection of its own, within what is left of its timeout.
   */
  #pipelinedStatement(
    runtime: PoolRuntime,
    shared: SharedConnection,
    sql: string,
    params: readonly unknown[] | undefined,
    options: ExecuteOptions | undefined,
    shape: ResultShape,
  ): Promise<unknown> {
    let outcome: unknown;
    try {
      outcome = runStatement(runtime, shared, sql, params, options, shape);
    } catch (error) {
      shared.abandon();
      return Promise.reject(error);
    }
    const settled = settle(outcome);
    // Without a tracer the statement was sent by now (or threw); a tracer may run it later, or never.
    if (instrumentation === undefined) shared.abandon();
    else settled.then(() => shared.abandon(), () => shared.abandon());
    if (options?.idempotent !== true) return settled;
    const startedAt = performance.now();
    return settled.catch((error: unknown) => {
      const budgetMs = (options.timeoutMs ?? runtime.config.queryExecutionTimeoutMs) - (performance.now() - startedAt);
      if (!(error instanceof ConnectionError) || !(budgetMs > 0)) throw error;
      return this.#pooledStatement(runtime, sql, params, { ...options, timeoutMs: budgetMs, idempotent: false }, shape);
    });
  }

  /** The statement through a checked-out connection (which may still run it synchronously, or wait for a lock). */
  #pooledStatement(runtime: PoolRuntime, sql: string, params: readonly unknown[] | undefined, options: ExecuteOptions | undefined, shape: ResultShape): Promise<unknown> {
    const entry = runtime.tryAcquireIdle(options?.signal);
    if (entry !== undefined) return runAndRelease(new Connection(runtime, entry), sql, params, options, shape);
    return this.connection(options?.signal === undefined ? undefined : { signal: options.signal }).then((conn) =>
      runAndRelease(conn, sql, params, options, shape),
    );
  }

  #assertOpen(): void {
    if (this.#closed) throw new PoolClosedError(`${this.alias}: the database was closed`);
  }

  /** The pool this Database runs on, unless it was not opened yet or has been closed (then `#openRuntime`). */
  #liveRuntime(): PoolRuntime | undefined {
    const live = this.#runtime;
    return live !== undefined && !live.pool.closed ? live : undefined;
  }

  async #openRuntime(): Promise<PoolRuntime> {
    this.#assertOpen();
    this.#backend ??= (await this.#loadDriver()).dialect.name;
    const runtime = await PoolManager.open(this.config, this.#backend, () => this.#loadDriver(), {
      logger: this.#logger,
      trackAcquireStacks: this.#trackStacks,
    });
    if (this.#closed) throw new PoolClosedError(`${this.alias}: the database was closed`);
    this.#runtime = runtime;
    return runtime;
  }

  async #loadDriver(): Promise<Driver> {
    this.#driver ??= await (this.#source as DriverLoader).load();
    return this.#driver;
  }

  #loadDriverSync(): Driver {
    this.#driver ??= (this.#source as DriverLoader).loadSync();
    return this.#driver;
  }
  /**
   * `Connection.stream` on a pooled connection held until the iteration ends (to the last row,
   * or early by `break`, an error or the signal), then released.
   *
   * ```ts
   * for await (const row of db.stream('SELECT * FROM [events]')) total += row.amount as number;
   * ```
   */
  async *stream<R = Row>(sql: string, params?: readonly unknown[], options?: StreamOptions): AsyncGenerator<R, void, undefined> {
    const conn = await this.connection(options?.signal === undefined ? {} : { signal: options.signal });
    try {
      yield* conn.stream<R>(sql, params, options);
    } finally {
      await conn.release();
    }
  }
}
