/**
 * The backend contract. A driver package (PostgreSQL, MySQL, SQLite, or your own) implements
 * these small interfaces; core owns everything else once: pooling, timeouts, cancellation,
 * transactions, errors, metrics and resilience.
 *
 * A driver supplies:
 *  - its dialect (how portable SQL becomes native SQL, transaction statements, error mapping),
 *  - how to open one raw connection (async, and optionally sync),
 *  - how to run one statement on it, how to cancel the running one, how to check and close it.
 *
 * See docs/adding-a-backend.md for a walk-through with the PGlite driver (packages/driver-pglite).
 */
import type { DalError } from '@dal/resilience';
import type { TranslateTarget } from '@dal/sql-translate';
import type { DatabaseConfig } from '../config/database-config.js';

/** Version of this contract. Core rejects a driver declaring another one. */
export type DriverSpecVersion = 'v1';

/** Names of the built-in dialects; plugins may use any other string. */
export type DialectName = 'postgres' | 'mysql' | 'sqlite' | (string & {});

export type RowMode = 'object' | 'array';

export type IsolationLevel = 'read uncommitted' | 'read committed' | 'repeatable read' | 'serializable';

/** What a backend can do; core branches on these flags, never on the dialect name. */
export interface DriverCapabilities {
  /** A running statement can be stopped from the server side (cancel request, KILL QUERY, interrupt). */
  readonly cancel: boolean;
  /** SAVEPOINT / RELEASE SAVEPOINT / ROLLBACK TO SAVEPOINT work inside a transaction. */
  readonly savepoints: boolean;
  /** DDL inside a transaction is rolled back with it (false on MySQL: DDL commits implicitly). */
  readonly transactionalDdl: boolean;
  /** INSERT ... RETURNING is supported. */
  readonly returning: boolean;
  /** `connectSync` is implemented, so `Database.syncConnection()` works. */
  readonly sync: boolean;
  /**
   * `INSERT ... VALUES (...), (...)` works, so `executeMany` may send a plain single-row INSERT as a
   * few multi-row ones (default false: row by row).
   */
  readonly multiRowInsert?: boolean;
  /**
   * Statements outside a transaction may share a connection with others in flight
   * (`DriverConnection.pipeline`): `db.execute` / `query` / `executeFirst` then send the next
   * statement before the previous answer came back. Default false (one statement per connection).
   */
  readonly pipelining?: boolean;
}

/** Result of one statement, as a driver returns it. */
export interface DriverResult<R = unknown> {
  /** Rows as objects (rowMode 'object') or tuples (rowMode 'array'); empty for statements without rows. */
  readonly rows: R[];
  /** Rows inserted, updated or deleted; 0 when the server does not say. */
  readonly affectedRows: number;
  /** Last inserted id where the backend reports one (MySQL, SQLite). */
  readonly insertId?: number | bigint | string;
}

export interface DriverExecuteOptions {
  readonly rowMode: RowMode;
  /**
   * The caller's timeout for this statement, so a driver may also set a server-side bound
   * (PostgreSQL `statement_timeout`, MariaDB `max_statement_time`). Core enforces the timeout
   * itself anyway, by calling `cancel()`.
   */
  readonly timeoutMs: number;
  /**
   * The caller wants only the first row (`executeFirst`): a driver may stop reading after it
   * (SQLite's `Statement.get`). Returning every row is also correct; core keeps the first.
   */
  readonly firstRow?: boolean;
}

export interface DriverStreamOptions extends DriverExecuteOptions {
  /** Most rows one `next()` returns (and about how many the driver holds at once). */
  readonly batchSize: number;
}

/** One statement's rows, read batch by batch; see `DriverConnection.stream`. */
export interface DriverRowStream<R = unknown> {
  /**
   * The next 1 to `batchSize` rows, or an empty array once there are none left. Rejects with the
   * statement's error (mapped by the dialect, like `execute`'s).
   */
  next(): Promise<R[]>;
  /**
   * End the statement and leave the connection ready for the next one: when rows are left (the
   * caller stopped early, or `cancel()` interrupted a batch), stop the query on the server rather
   * than read them all. Called exactly once; rejects only when the connection is unusable.
   */
  close(): Promise<void>;
}

/** How a dialect turns portable SQL into native SQL and talks about transactions. */
export interface Dialect {
  readonly name: DialectName;
  /** Translation rules for @dal/sql-translate (a built-in name or a custom target). */
  readonly translateTarget: TranslateTarget;
  /** Quote one identifier natively (used by core and @dal/entities for generated SQL). */
  quoteIdentifier(name: string): string;
  /** Statements that start a transaction, e.g. ['BEGIN ISOLATION LEVEL SERIALIZABLE']. */
  beginTransactionSql(isolationLevel?: IsolationLevel): readonly string[];
  /** Native SQL for savepoints (only called when `capabilities.savepoints`). */
  savepointSql(name: string): string;
  /**
   * Optional: releasing a savepoint costs a round trip, and a savepoint left unreleased ends with
   * its transaction anyway; leave it out where that is cheap for the backend.
   */
  releaseSavepointSql?(name: string): string;
  rollbackToSavepointSql(name: string): string;
  /**
   * Turn a native driver error into a DalError (QueryError subclasses, ConnectionError, ...).
   * Keep the native error as `cause`; never put parameter values in the message.
   * `context.sql` is the native SQL that failed, when there was one.
   */
  mapError(error: unknown, context: { alias: string; sql?: string }): DalError;
  /**
   * Optional native SQL returning one row with `max_connections` (the server's limit) and
   * `current_connections` (open now, all clients), for capacity advice. Omit without a server.
   */
  readonly connectionLimitsSql?: string;
  /**
   * Optional: the SQL features that create and change tables (@dal/entities) generate for this
   * backend. Each member left out takes the feature's SQL-standard default.
   */
  readonly schemaSql?: Partial<SchemaSql>;
  /**
   * Optional: what a mapped error means to features that create and read tables, or undefined
   * when it is none of these. Without it, only SQL-standard SQLSTATEs are recognised.
   */
  classifySchemaError?(error: DalError): SchemaErrorKind | undefined;
  /**
   * Optional: how to learn a server's role and replication position, for read replicas
   * (`replicas` in the config, `db.replica()`, `db.commitToken()`). Without it a config with
   * replicas is rejected on first use.
   */
  readonly replication?: ReplicationSql;
}

/**
 * The replication SQL of one backend. Positions travel as text (a PostgreSQL LSN, a MariaDB GTID
 * list); core compares them only through `behind`.
 */
export interface ReplicationSql {
  /**
   * One row: `replica` true/non-zero when the server takes no writes (a standby, a read-only
   * replica); `position` what it has (primary: written; replica: replayed), as text.
   */
  readonly stateSql: string;
  /** One row `position`: the primary's current position, read after a commit (the commit token). */
  readonly commitPositionSql: string;
  /**
   * How far `replayed` is behind `target`: `{ bytes }` where positions measure bytes (WAL),
   * `{ transactions }` where they count transactions (GTIDs); 0 when it has reached it.
   * @throws {Error} when a position is not one of this backend's.
   */
  behind(target: string, replayed: string): { bytes?: number; transactions?: number };
  /**
   * Optional: a statement that waits on the server until it replayed `position`, for at most
   * `timeoutMs`, returning one row whose `reached` is 0 when it did (MariaDB `MASTER_GTID_WAIT`).
   * Without it core polls `stateSql`.
   */
  waitForPosition?(position: string, timeoutMs: number): SqlWithParams;
  /**
   * True for the error of a write sent to a read-only node (PostgreSQL 25006, MariaDB 1290). It
   * judges errors from any server, so core always takes it from the dialect's own object.
   */
  isReadOnlyError(error: DalError): boolean;
  /** True for a read a hot standby cancelled to apply replication (PostgreSQL 40001 there); it may run elsewhere. */
  isRecoveryConflict?(error: DalError): boolean;
  /**
   * Optional, for a backend whose servers differ in replication SQL: the flavour for a server,
   * from the version string its connection reports (`DriverConnection.serverVersion()`). Core
   * asks on each connection it reads positions on and uses what comes back; the servers of one
   * replica set are taken to be of one flavour. Without it this object serves every server.
   */
  forServer?(serverVersion: string): ReplicationSql;
}

/** How features store a value in a column: one SQL type per kind (see `SchemaSql.columnTypes`). */
export type StoredKind = 'text' | 'double' | 'bigint' | 'boolean' | 'timestamp';

/**
 * What an error means to a feature that creates and reads tables: a table or column it expected
 * is not there (its cached schema is stale), one it meant to create already exists (a concurrent
 * creator), or DDL gave up waiting for a lock. (A statement prepared before DDL elsewhere is
 * core's `StaleStatementError`, not a kind here.)
 */
export type SchemaErrorKind = 'missing-object' | 'duplicate-object' | 'lock-timeout';

/** An index to create: its name, its columns in order, and whether it is unique. */
export interface IndexSpec {
  readonly name: string;
  readonly columns: readonly string[];
  readonly unique: boolean;
}

/** A statement with its positional (`?`) parameters. */
export interface SqlWithParams {
  readonly sql: string;
  readonly params: unknown[];
}

/**
 * The table SQL of one backend, for features such as @dal/entities. Names come unquoted: quote
 * them with the dialect's `quoteIdentifier`. SQL may use portable `?` placeholders.
 */
export interface SchemaSql {
  /** A failed statement aborts the whole transaction (PostgreSQL), so errors cannot be tolerated inside one. */
  readonly errorAbortsTransaction: boolean;
  /** `WITH m AS (INSERT ... RETURNING ...) INSERT ... SELECT FROM m` works (one statement for rows and history). */
  readonly dataModifyingCte: boolean;
  /** An upsert can end in `RETURNING` (the row as stored, after an update too); otherwise it is read back. */
  readonly upsertReturning: boolean;
  /** The upsert's update fires on a conflict of any unique key, not only the id (MySQL's ON DUPLICATE KEY). */
  readonly upsertMatchesAnyUniqueKey: boolean;
  /** Most placeholders one statement may carry. */
  readonly maxParams: number;
  /** Column type of each stored kind ('' for no declared type: SQLite then keeps values as bound). */
  readonly columnTypes: Readonly<Record<StoredKind, string>>;
  /** Type of a primary-key string column. */
  readonly idColumn: string;
  /** Type of the feature's own text columns (user ids, comments, field type maps). */
  readonly textColumn: string;
  /** Type of the feature's own timestamp columns (created_at, history_timestamp). */
  readonly timestampColumn: string;
  /** Type of a small integer column (versions, counters). */
  readonly integerColumn: string;
  /** Appended to CREATE TABLE (engine, charset), or ''. */
  readonly tableOptions: string;
  /** The driver returns 64-bit integers as doubles: features also read bigint columns as text. */
  readonly inexactBigints: boolean;
  /**
   * Column type of a declared field of `kind` (real types where `columnTypes` has none, as on
   * SQLite); `keyed` when the column is part of an index or unique (MySQL then needs a VARCHAR).
   */
  declaredColumn(kind: StoredKind, options: { readonly keyed: boolean; readonly maxLength: number | undefined }): string;
  /** ALTER TABLE ... ADD COLUMN with a column type, tolerant of an existing column where the backend allows. */
  addColumn(table: string, column: string, columnType: string): string;
  /** Statements that change a column's storage from one kind to another, or none when no DDL is needed. */
  changeColumn(table: string, column: string, from: StoredKind, to: StoredKind): string[];
  /** CREATE [UNIQUE] INDEX, tolerant of an existing index where the backend allows. */
  createIndex(table: string, index: IndexSpec): string;
  dropIndex(table: string, name: string): string;
  renameColumn(table: string, from: string, to: string): string;
  dropColumn(table: string, column: string): string;
  /** Make an existing column NOT NULL; undefined where the backend cannot without rebuilding the table (SQLite). */
  setNotNull(table: string, column: string, columnType: string): string | undefined;
  /** The statement changing a column to `columnType` when its catalog type `actual` differs in a way that matters, else undefined. */
  retype(table: string, column: string, actual: string, columnType: string): string | undefined;
  /** Columns of `table`: rows of `name`, `nullable` (non-zero or 'YES' when nullable) and `type`. */
  columnsOf(table: string): SqlWithParams;
  /** Index names of `table`: rows of `name`. */
  indexesOf(table: string): SqlWithParams;
  /**
   * The process-wide lock migrations hold: `acquire` waits at most `waitMs`; `release` (when given)
   * frees it, else the transaction's end does. Undefined when the transaction itself serializes.
   */
  migrationLock: ((waitMs: number) => { acquire: SqlWithParams; release?: SqlWithParams }) | undefined;
  /**
   * The tail of `INSERT INTO table (...) VALUES (...)` that turns it into an upsert on the `id`
   * column, setting `updates` from the new row; `mergeJson`, when given, names a JSON-object text
   * column whose old and new objects are merged (new keys win) instead of replaced.
   */
  upsertTail(table: string, updates: readonly string[], mergeJson: string | undefined): string;
  /** INSERT of one row that does nothing when its primary key exists; `values` are SQL literals, else placeholders. */
  insertIgnore(table: string, columns: readonly string[], values?: readonly string[]): string;
  /** One-row query whose `e` is non-zero when `table` exists. */
  tableExists(table: string): SqlWithParams;
  /** The tables of the database (its current schema, where it has several): rows of `name`. */
  tables(): SqlWithParams;
  /** LIMIT/OFFSET clause for validated integers ('' when both are undefined). */
  limitOffset(limit: number | undefined, offset: number | undefined): string;
  /** A timestamp as bound for a timestamp column. */
  timestamp(at: Date): unknown;
  /** A placeholder for a value of `kind` where the server cannot infer its type (INSERT ... SELECT). */
  typedParam(kind: 'text' | 'timestamp'): string;
  /**
   * Serialises schema changes of one entity across sessions: `acquire` waits (bounded by the lock
   * timeout), `release` (when given) frees it; undefined when the transaction already serialises them.
   */
  ddlLock: ((key: string) => { acquire: SqlWithParams; release?: SqlWithParams }) | undefined;
  /** Statements around DDL bounding how long it waits for locks; undefined when not needed. */
  readonly lockTimeout:
    | {
        /** One-row query whose `v` is the current setting. */
        readonly read: string;
        set(ms: number): SqlWithParams;
        restore(previous: unknown): SqlWithParams;
      }
    | undefined;
}

/** One open physical connection, driven by core. Core never runs two statements on it at once. */
export interface DriverConnection {
  /** Run one native statement with positional parameters. */
  execute<R = unknown>(sql: string, params: readonly unknown[], options: DriverExecuteOptions): Promise<DriverResult<R>>;
  /**
   * Optional: run one native statement synchronously on the caller's thread (SQLite's inline mode)
   * and throw its error. When a connection has it, core calls it instead of `execute` and starts no
   * timer, since none could fire before it returns: acquire, run and release of a pooled statement
   * then take no promise, timer or event-loop turn of their own. Return `undefined`, having run
   * nothing, when the
   * statement would have to wait (a lock held by another connection): core then calls `execute`,
   * which may wait asynchronously, under the statement's timeout and `cancel()`.
   */
  executeNow?<R = unknown>(sql: string, params: readonly unknown[], options: DriverExecuteOptions): DriverResult<R> | undefined;
  /**
   * Optional, only with `executeNow`: like `SyncDriverConnection.prepareReader`, for the
   * `executeFirst` (and, with the reader's `all`, `execute`) calls core runs on this connection in place. The reader runs on the caller's
   * thread; when it throws, core runs the statement again through `executeNow`, which maps the
   * error or returns undefined to wait for a lock (a read-only query that failed changed nothing;
   * its parameters are converted again, so a parameter's `toJSON` then runs twice).
   */
  prepareReader?(sql: string): SyncDriverReader | undefined;
  /**
   * Optional: read one statement's rows in batches without holding them all (`conn.stream`), e.g. a
   * PostgreSQL cursor, MySQL's streamed rows, SQLite's `iterate()`. Nothing runs until the first
   * `next()`. Core calls `next()` one at a time, each under the statement's timeout and signal
   * (calling `cancel()` when one runs past them), and `close()` exactly once at the end: after the
   * last batch, after an error, or when the caller stops early. Core runs nothing else on the
   * connection until `close()` settled. Without this method core runs the statement through
   * `execute` and hands out its rows one by one (correct, but the whole result is in memory).
   */
  stream?<R = unknown>(sql: string, params: readonly unknown[], options: DriverStreamOptions): DriverRowStream<R>;
  /**
   * Stop the statement running on this connection, from the server side (a side connection's
   * `pg_cancel_backend` / `KILL QUERY`, a cancel request, `sqlite3_interrupt`, terminating a worker).
   * Resolves once the cancel was delivered; the pending `execute` then rejects.
   * Called only when `capabilities.cancel`.
   */
  cancel(): Promise<void>;
  /**
   * Optional, with `capabilities.pipelining`: send one autocommit statement behind the ones already
   * in flight on this connection, without waiting for their answers. Core calls it only on a
   * connection it shares between such statements (never inside a transaction, never while
   * `execute` or `stream` runs on it); each statement must succeed or fail on its own (e.g. its own
   * Sync on PostgreSQL), and a connection that breaks fails every statement in flight on it.
   */
  pipeline?<R = unknown>(sql: string, params: readonly unknown[], options: DriverExecuteOptions): PipelinedStatement<R>;
  /** Cheap liveness check (e.g. `SELECT 1`); rejects if the connection is unusable. */
  ping(options: { signal: AbortSignal }): Promise<void>;
  /** The server's version string. */
  serverVersion(): Promise<string>;
  /** True once the driver knows the connection is broken (socket closed, fatal error). */
  readonly broken: boolean;
  /** Close gracefully. */
  close(): Promise<void>;
  /** Close at once, without waiting for anything (used after a cancel that did not stop the statement). */
  destroy(): void;
}

/** One statement sent with `DriverConnection.pipeline`. */
export interface PipelinedStatement<R = unknown> {
  /** Settles once this statement's answer came back, was discarded, or it was dropped unsent. */
  readonly result: Promise<DriverResult<R>>;
  /**
   * Stop this statement and no other: one not sent yet is never sent; the one the server is
   * running is cancelled there; one queued behind another is cancelled once it runs, else its
   * answer is discarded (a server-side timeout bounds it). `result` then rejects.
   * @throws {ConnectionError} when a cancel could not be delivered (core then discards the connection).
   */
  cancel(): Promise<void>;
}

/** A synchronous physical connection (SQLite natively; others may use a worker thread). */
export interface SyncDriverConnection {
  execute<R = unknown>(sql: string, params: readonly unknown[], options: DriverExecuteOptions): DriverResult<R>;
  /**
   * Optional: `sql` prepared once as a read-only query that `executeFirst` (and, with the reader's
   * `all`, `execute`) may run again and again, or undefined when it is not one (it writes).
   * Throw when it does not prepare: core then runs it through `execute`, which reports the error,
   * and asks again next time. Core keeps the handle per connection, keyed by the portable SQL, so
   * a repeated point select costs one lookup.
   */
  prepareReader?(sql: string): SyncDriverReader | undefined;
  serverVersion(): string;
  close(): void;
}

/** A prepared read-only query of a `SyncDriverConnection` or an `executeNow` connection (see `prepareReader`). */
export interface SyncDriverReader {
  /** The first row as an object, or undefined; throws the native error. */
  first(params: readonly unknown[]): unknown;
  /** Optional: every row as objects (`execute` then runs through the reader too); throws the native error. */
  all?(params: readonly unknown[]): unknown[];
}

export interface DriverConnectOptions {
  /** Aborted when `connectionCreationTimeoutMs` passes or the pool closes: stop connecting. */
  readonly signal: AbortSignal;
}

/** Everything core needs from a backend. */
export interface Driver {
  readonly specVersion: DriverSpecVersion;
  readonly dialect: Dialect;
  readonly capabilities: DriverCapabilities;
  /** Native client library and version, e.g. 'pg 8.16.3' (reported by getVersionDetails). */
  readonly clientName: string;
  /** Pool size to use when the config sets none (e.g. 1 for an in-memory SQLite database). */
  defaultPoolSize?(config: DatabaseConfig): { min: number; max: number };
  /** Open one physical connection within `options.signal`. Errors should go through `dialect.mapError`. */
  connect(config: DatabaseConfig, options: DriverConnectOptions): Promise<DriverConnection>;
  /** Open one synchronous connection (only when `capabilities.sync`). */
  connectSync?(config: DatabaseConfig): SyncDriverConnection;
  /** Release resources shared by this driver's connections (side connections for cancels, ...). */
  close?(): Promise<void>;
}
