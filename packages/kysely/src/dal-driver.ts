import { ConfigError, UnsupportedFeatureError, type BackendName, type Connection, type Database, type QueryResult as DalResult } from '@dal/core';
import type { CompiledQuery, DatabaseConnection, Driver, QueryResult, TransactionSettings } from 'kysely';

/**
 * kysely 0.29 passes `{ signal }` to `acquireConnection`, `executeQuery` and `streamQuery`; 0.28
 * passes nothing. Accepting it here keeps one driver for both.
 */
export interface AbortableOptions {
  readonly signal?: AbortSignal | undefined;
}

/** Statements after which kysely expects `numAffectedRows` (kysely's own drivers report it for these). */
const WRITES = new Set(['InsertQueryNode', 'UpdateQueryNode', 'DeleteQueryNode', 'MergeQueryNode']);

/**
 * kysely's view of one checked-out @dal `Connection`. Statements go through `conn.query`, so each
 * one gets @dal's timeout (cancelled on the server), error mapping, slow-query log and metrics.
 */
export class DalKyselyConnection implements DatabaseConnection {
  /** The @dal connection this wraps, e.g. for statements kysely cannot build. */
  readonly connection: Connection;

  constructor(connection: Connection) {
    this.connection = connection;
  }

  async executeQuery<R>(compiledQuery: CompiledQuery, options?: AbortableOptions): Promise<QueryResult<R>> {
    const signal = options?.signal;
    const result = await this.connection.query<R>(compiledQuery.sql, compiledQuery.parameters, signal === undefined ? undefined : { signal });
    return toKyselyResult(result, compiledQuery.query.kind);
  }

  async *streamQuery<R>(_compiledQuery: CompiledQuery, _chunkSize?: number, _options?: AbortableOptions): AsyncIterableIterator<QueryResult<R>> {
    // @dal's Connection has no cursor API yet; buffering the whole result here would defeat the point of stream().
    throw new UnsupportedFeatureError(
      `${this.connection.alias}: kysely's stream() is not supported on @dal yet; page with limit/offset or a keyset instead`,
      'stream',
      this.connection.dialect.name,
    );
  }
}

/** What kysely's own drivers return: rows, and counts as bigints where the statement wrote. */
function toKyselyResult<R>(result: DalResult<R>, kind: string): QueryResult<R> {
  const isRaw = kind === 'RawNode';
  const wrote = WRITES.has(kind) || (isRaw && result.rows.length === 0);
  const insertId = result.insertId;
  const hasInsertId = (kind === 'InsertQueryNode' || isRaw) && insertId !== undefined && insertId !== null && String(insertId) !== '0';
  if (!wrote && !hasInsertId) return { rows: result.rows };
  return {
    rows: result.rows,
    ...(wrote ? { numAffectedRows: BigInt(result.affectedRows) } : {}),
    ...(hasInsertId ? { insertId: BigInt(insertId) } : {}),
  };
}

/**
 * The kysely `Driver` over an @dal `Database`: connections come from its pool (acquisition
 * timeout, breaker), transactions are @dal's on the held connection.
 */
export class DalDriver implements Driver {
  readonly #database: Database;
  readonly #backend: BackendName;
  readonly #closeOnDestroy: boolean;
  #checked = false;

  constructor(database: Database, backend: BackendName, closeOnDestroy: boolean) {
    this.#database = database;
    this.#backend = backend;
    this.#closeOnDestroy = closeOnDestroy;
  }

  async init(): Promise<void> {
    // The pool opens on the first acquisition, as it does for any other @dal user.
  }

  /**
   * @throws {PoolTimeoutError} when no connection is free within `connectionAcquisitionTimeoutMs`.
   * @throws {ConfigError} when the database is not the backend kysely compiles for.
   */
  async acquireConnection(options?: AbortableOptions): Promise<DalKyselyConnection> {
    const signal = options?.signal;
    const conn = await this.#database.connection(signal === undefined ? {} : { signal });
    if (!this.#checked) {
      const actual = conn.dialect.name;
      if (actual !== this.#backend) {
        await conn.release();
        throw new ConfigError(`DalDialect: ${conn.alias} is a ${actual} database, but kysely was set up to write ${this.#backend} SQL`);
      }
      this.#checked = true;
    }
    return new DalKyselyConnection(conn);
  }

  /**
   * @throws {UnsupportedFeatureError} for an isolation level or access mode the backend lacks.
   */
  async beginTransaction(connection: DalKyselyConnection, settings: TransactionSettings): Promise<void> {
    const conn = connection.connection;
    const { isolationLevel, accessMode } = settings;
    if (isolationLevel === 'snapshot') {
      throw new UnsupportedFeatureError(`${conn.alias}: isolation level "snapshot" is SQL Server's`, 'isolationLevel', this.#backend);
    }
    if (accessMode === 'read only' && this.#backend === 'sqlite') {
      throw new UnsupportedFeatureError(`${conn.alias}: SQLite has no read-only transactions`, 'accessMode', this.#backend);
    }
    // MySQL takes the access mode for the next transaction only, before it starts (as its isolation level).
    if (accessMode !== undefined && this.#backend === 'mysql') await conn.query(`SET TRANSACTION ${accessMode.toUpperCase()}`);
    await conn.beginTransaction(isolationLevel === undefined ? {} : { isolationLevel });
    // PostgreSQL takes it as the first statement inside the transaction.
    if (accessMode !== undefined && this.#backend === 'postgres') await conn.query(`SET TRANSACTION ${accessMode.toUpperCase()}`);
  }

  async commitTransaction(connection: DalKyselyConnection): Promise<void> {
    await connection.connection.commitTransaction();
  }

  async rollbackTransaction(connection: DalKyselyConnection): Promise<void> {
    await connection.connection.rollbackTransaction();
  }

  async savepoint(connection: DalKyselyConnection, savepointName: string): Promise<void> {
    const conn = connection.connection;
    await conn.query(conn.dialect.savepointSql(savepointName));
  }

  async rollbackToSavepoint(connection: DalKyselyConnection, savepointName: string): Promise<void> {
    const conn = connection.connection;
    await conn.query(conn.dialect.rollbackToSavepointSql(savepointName));
  }

  async releaseSavepoint(connection: DalKyselyConnection, savepointName: string): Promise<void> {
    const conn = connection.connection;
    const release = conn.dialect.releaseSavepointSql?.(savepointName);
    if (release !== undefined) await conn.query(release);
  }

  async releaseConnection(connection: DalKyselyConnection): Promise<void> {
    await connection.connection.release();
  }

  async destroy(): Promise<void> {
    if (this.#closeOnDestroy) await this.#database.close();
  }
}
