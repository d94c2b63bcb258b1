import { TransactionError, type Connection, type Database, type ExecuteOptions, type QueryResult } from '@dal/core';

/**
 * Where the statements go: a `Database` (each statement on any pooled connection) or one held
 * `Connection` (all on it, e.g. inside `conn.transaction()`).
 */
export type DalSource = Database | Connection;

/** Applied to every statement the proxy runs. */
export interface DalProxyOptions {
  /** Per-statement timeout; defaults to the config's `queryExecutionTimeoutMs`. */
  timeoutMs?: number;
  /** Labels for @dal's logs and metrics, e.g. `{ operation: 'orm' }`. */
  tags?: ExecuteOptions['tags'];
}

/** drizzle's `pg-proxy` callback. */
export type PgProxyCallback = (sql: string, params: unknown[], method: 'all' | 'execute') => Promise<{ rows: unknown[] }>;
/** drizzle's `mysql-proxy` callback. */
export type MysqlProxyCallback = (sql: string, params: unknown[], method: 'all' | 'execute') => Promise<{ rows: unknown[] }>;
/** drizzle's `sqlite-proxy` method names. */
export type SqliteProxyMethod = 'run' | 'all' | 'values' | 'get';
/** What the SQLite proxy's 'run' gives back: no rows, plus the counts better-sqlite3's run() has. */
export interface SqliteRunResult extends SqliteProxyAnswer {
  changes: number;
  lastInsertRowid: number | bigint | undefined;
}
/**
 * What the SQLite proxy answers: rows as arrays; for 'get' one row (an array) or undefined, which
 * drizzle's typings still call `any[]`.
 */
export interface SqliteProxyAnswer { rows: any[] }
/** drizzle's `sqlite-proxy` callback. */
export type SqliteProxyCallback = (sql: string, params: unknown[], method: SqliteProxyMethod) => Promise<SqliteProxyAnswer>;
/** drizzle's `sqlite-proxy` batch callback (`db.batch([...])`). */
export type SqliteBatchProxyCallback = (batch: { sql: string; params: unknown[]; method: SqliteProxyMethod }[]) => Promise<SqliteProxyAnswer[]>;

/** A MySQL result header as mysql2 returns it for a write, which drizzle's mysql-proxy reads `insertId` / `affectedRows` from. */
export interface MysqlResultHeader {
  affectedRows: number;
  insertId: number;
}

const BEGIN = /^\s*begin(\s+(deferred|immediate|exclusive|transaction))?\s*;?\s*$/i;
const COMMIT = /^\s*(commit|end)(\s+transaction)?\s*;?\s*$/i;
const ROLLBACK = /^\s*rollback(\s+transaction)?\s*;?\s*$/i;
/** Statements that answer with a result set even when it is empty (mysql2 returns `[rows, fields]` for them). */
const MYSQL_READS = /^\s*(\(\s*)*(select|with|show|describe|desc|explain|values|table)\b/i;

function isConnection(source: DalSource): source is Connection {
  return typeof (source as Connection).beginTransaction === 'function';
}

/**
 * Run one statement from a proxy on `source`. BEGIN / COMMIT / ROLLBACK become the held
 * connection's own transaction calls, so @dal knows a transaction is open (no transparent
 * reconnect, no retry inside it); on a pooled Database they are refused, since the statements
 * after them could land on other connections.
 * @throws {TransactionError} for BEGIN / COMMIT / ROLLBACK on a Database.
 */
async function run(source: DalSource, sql: string, params: readonly unknown[], options: ExecuteOptions): Promise<QueryResult<unknown>> {
  const control = BEGIN.test(sql) ? 'begin' : COMMIT.test(sql) ? 'commit' : ROLLBACK.test(sql) ? 'rollback' : undefined;
  if (control === undefined) return source.query<unknown>(sql, params, options);
  if (!isConnection(source)) {
    throw new TransactionError(
      `${source.alias}: drizzle sent "${sql.trim()}" to a pooled Database, where the next statements could run on other connections; ` +
        'run the transaction on one connection: db.withConnection((conn) => conn.transaction((tx) => ... drizzle(proxy(tx)) ...))',
    );
  }
  if (control === 'begin') await source.beginTransaction();
  else if (control === 'commit') await source.commitTransaction();
  else await source.rollbackTransaction();
  return { rows: [], affectedRows: 0 };
}

function baseOptions(options: DalProxyOptions): ExecuteOptions {
  const base: ExecuteOptions = {};
  if (options.timeoutMs !== undefined) base.timeoutMs = options.timeoutMs;
  if (options.tags !== undefined) base.tags = options.tags;
  return base;
}

/**
 * The callback for `drizzle-orm/pg-proxy`: 'all' gets rows as arrays (drizzle maps them to its
 * fields), 'execute' gets row objects (what `db.execute(sql\`...\`)` returns).
 *
 * ```ts
 * import { drizzle } from 'drizzle-orm/pg-proxy';
 * const orm = drizzle(dalPgProxy(db), { schema });
 * ```
 * drizzle's pg-proxy has no `transaction()`: run one with @dal on a held connection,
 * `db.withConnection((conn) => conn.transaction((tx) => work(drizzle(dalPgProxy(tx), { schema }))))`.
 */
export function dalPgProxy(source: DalSource, options: DalProxyOptions = {}): PgProxyCallback {
  const arrays: ExecuteOptions = { ...baseOptions(options), rowMode: 'array' };
  const objects = baseOptions(options);
  return async (sql, params, method) => {
    const result = await run(source, sql, params, method === 'all' ? arrays : objects);
    return { rows: result.rows };
  };
}

/**
 * The callback for `drizzle-orm/mysql-proxy`: 'all' gets rows as arrays; 'execute' gets what
 * mysql2 gives, `[rows, fields]` for a read and `[{ affectedRows, insertId }]` for a write
 * (drizzle's `$returningId()` counts up from that `insertId`).
 *
 * ```ts
 * import { drizzle } from 'drizzle-orm/mysql-proxy';
 * const orm = drizzle(dalMysqlProxy(db), { schema, mode: 'default' });
 * ```
 * drizzle's mysql-proxy has no `transaction()`: use @dal's on a held connection, as for PostgreSQL.
 */
export function dalMysqlProxy(source: DalSource, options: DalProxyOptions = {}): MysqlProxyCallback {
  const arrays: ExecuteOptions = { ...baseOptions(options), rowMode: 'array' };
  const objects = baseOptions(options);
  return async (sql, params, method) => {
    if (method === 'all') return { rows: (await run(source, sql, params, arrays)).rows };
    const result = await run(source, sql, params, objects);
    if (result.rows.length > 0 || MYSQL_READS.test(sql)) return { rows: [result.rows, []] };
    const header: MysqlResultHeader = { affectedRows: result.affectedRows, insertId: Number(result.insertId ?? 0) };
    return { rows: [header] };
  };
}

/** One statement of the SQLite proxy, shaped as drizzle's sqlite-proxy documents per method. */
async function sqliteStatement(source: DalSource, sql: string, params: readonly unknown[], method: SqliteProxyMethod, arrays: ExecuteOptions): Promise<SqliteProxyAnswer> {
  if (method === 'get') {
    // One row as an array, or undefined when there is none.
    return { rows: (await run(source, sql, params, arrays)).rows[0] as unknown[] };
  }
  const result = await run(source, sql, params, arrays);
  if (method === 'run') {
    const done: SqliteRunResult = { rows: [], changes: result.affectedRows, lastInsertRowid: result.insertId === undefined ? undefined : (result.insertId as number | bigint) };
    return done;
  }
  return { rows: result.rows };
}

/**
 * The callback for `drizzle-orm/sqlite-proxy`: 'all' and 'values' get rows as arrays, 'get' one
 * row as an array (or undefined), 'run' no rows plus `changes` and `lastInsertRowid`.
 *
 * ```ts
 * import { drizzle } from 'drizzle-orm/sqlite-proxy';
 * const orm = drizzle(dalSqliteProxy(db), dalSqliteBatchProxy(db), { schema });
 * ```
 * drizzle's sqlite-proxy does have `transaction()`: it sends BEGIN / COMMIT / ROLLBACK, which
 * need one connection, so build that drizzle on a held connection:
 * `db.withConnection((conn) => drizzle(dalSqliteProxy(conn)).transaction(async (tx) => ...))`.
 */
export function dalSqliteProxy(source: DalSource, options: DalProxyOptions = {}): SqliteProxyCallback {
  const arrays: ExecuteOptions = { ...baseOptions(options), rowMode: 'array' };
  return (sql, params, method) => sqliteStatement(source, sql, params, method, arrays);
}

/**
 * The batch callback for `drizzle-orm/sqlite-proxy` (`orm.batch([...])`): every statement on
 * one connection in one transaction, all or nothing (a savepoint when `source` is a connection
 * already in a transaction).
 */
export function dalSqliteBatchProxy(source: DalSource, options: DalProxyOptions = {}): SqliteBatchProxyCallback {
  const arrays: ExecuteOptions = { ...baseOptions(options), rowMode: 'array' };
  return (batch) => {
    const runAll = (conn: Connection): Promise<SqliteProxyAnswer[]> =>
      conn.transaction(async (tx) => {
        const results: SqliteProxyAnswer[] = [];
        for (const statement of batch) results.push(await sqliteStatement(tx, statement.sql, statement.params, statement.method, arrays));
        return results;
      });
    return isConnection(source) ? runAll(source) : source.withConnection(runAll);
  };
}
