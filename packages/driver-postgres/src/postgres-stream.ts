import type { DriverExecuteOptions, DriverResult, DriverRowStream, DriverStreamOptions } from '@dal/core';

/** What a cursor needs from its PostgresConnection. */
export interface CursorSession {
  /** The connection's own `execute` (statement timeout, cancel and error mapping included). */
  execute<R>(sql: string, params: readonly unknown[], options: DriverExecuteOptions): Promise<DriverResult<R>>;
  /** pg's transaction status: idle, in a transaction, in a failed one. */
  transactionStatus(): 'I' | 'T' | 'E' | null;
}

/** Statements a cursor can be declared for; anything else (a write with RETURNING) runs whole. */
const CURSOR_QUERY = /^\s*(?:\(\s*)*(?:select|values|table|with)\b/i;

let cursorCounter = 0;

/**
 * A statement's rows read through a server-side cursor: `DECLARE ... NO SCROLL CURSOR`, then
 * `FETCH batchSize` per batch, so that neither side holds more than a batch. A cursor lives in a
 * transaction: inside the caller's it is simply closed at the end; outside one, the stream opens
 * its own and commits it (rolls it back after an error or a cancel), leaving the session idle.
 */
export function cursorStream<R>(session: CursorSession, sql: string, params: readonly unknown[], options: DriverStreamOptions): DriverRowStream<R> {
  if (!CURSOR_QUERY.test(sql)) return wholeStatement<R>(session, sql, params, options);
  // Unique per stream, so the DECLARE text is new each time and never becomes a prepared statement.
  const cursor = `dal_cursor_${++cursorCounter}`;
  const fetchSql = `FETCH ${options.batchSize} FROM ${cursor}`;
  let ownTransaction = false;
  let declared = false;
  let exhausted = false;
  return {
    async next(): Promise<R[]> {
      if (exhausted) return [];
      if (!declared) {
        if (session.transactionStatus() === 'I') {
          ownTransaction = true;
          await session.execute('BEGIN', [], options);
        }
        await session.execute(`DECLARE ${cursor} NO SCROLL CURSOR FOR ${sql}`, params, options);
        declared = true;
      }
      const { rows } = await session.execute<R>(fetchSql, [], options);
      if (rows.length < options.batchSize) exhausted = true;
      return rows;
    },
    async close(): Promise<void> {
      const status = session.transactionStatus();
      if (status === 'E') {
        // Failed or cancelled: the cursor is gone with the transaction; only ours is ours to end.
        if (ownTransaction) await session.execute('ROLLBACK', [], options);
        return;
      }
      if (declared) await session.execute(`CLOSE ${cursor}`, [], options);
      if (ownTransaction && status === 'T') await session.execute('COMMIT', [], options);
    },
  };
}

/** A statement that cannot have a cursor: run whole, its rows handed out in batches. */
function wholeStatement<R>(session: CursorSession, sql: string, params: readonly unknown[], options: DriverStreamOptions): DriverRowStream<R> {
  let rows: R[] | undefined;
  let offset = 0;
  return {
    async next(): Promise<R[]> {
      rows ??= (await session.execute<R>(sql, params, options)).rows;
      const batch = rows.slice(offset, offset + options.batchSize);
      offset += batch.length;
      return batch;
    },
    close: () => Promise.resolve(),
  };
}
