import type { Connection, ExecuteOptions, QueryResult, Row } from '../connection/connection.js';
import type { ResultShape } from '../connection/statement.js';

/**
 * The statement API on pooled connections that a Database and its replica handle
 * (`db.replica()`) share: each gives how it hands out a connection and how it runs one statement.
 */
export abstract class PooledStatements {
  /** A pooled connection; release it with `release()` or `await using`. */
  abstract connection(options?: { signal?: AbortSignal }): Promise<Connection>;

  /**
   * One statement on a pooled connection; `shape` says what the caller gets. The public methods
   * return its promise as it is (no wrapper: `db.execute` is a hot path).
   */
  protected abstract statement(sql: string, params: readonly unknown[] | undefined, options: ExecuteOptions | undefined, shape: ResultShape): Promise<unknown>;

  /** Acquire a connection, run `fn`, and always release it. */
  async withConnection<T>(fn: (conn: Connection) => Promise<T>, options: { signal?: AbortSignal } = {}): Promise<T> {
    const conn = await this.connection(options);
    try {
      return await fn(conn);
    } finally {
      await conn.release();
    }
  }

  /** Run one statement on a pooled connection (acquire, execute, release). */
  execute<R = Row>(sql: string, params?: readonly unknown[], options?: ExecuteOptions): Promise<R[]> {
    return this.statement(sql, params, options, 'rows') as Promise<R[]>;
  }

  /** Like `execute`, with `affectedRows` and `insertId`. */
  query<R = Row>(sql: string, params?: readonly unknown[], options?: ExecuteOptions): Promise<QueryResult<R>> {
    return this.statement(sql, params, options, 'result') as Promise<QueryResult<R>>;
  }

  /** The first row of one statement on a pooled connection, or undefined (see `Connection.executeFirst`). */
  executeFirst<R = Row>(sql: string, params?: readonly unknown[], options?: ExecuteOptions): Promise<R | undefined> {
    return this.statement(sql, params, options, 'first') as Promise<R | undefined>;
  }
}
