import type { DriverRowStream, DriverStreamOptions } from '@dal/core';
import { mapSqliteError } from './map-error.js';
import { exactRows, type SqliteDatabase } from './sqlite-engine.js';
import { toSqliteParams } from './sqlite-params.js';

/**
 * A statement's rows through better-sqlite3's `iterate()`: SQLite steps the statement one row at a
 * time, so nothing beyond a batch is held. Each batch is read synchronously and handed over after
 * one event-loop turn (`setImmediate`), so a long stream does not starve timers and I/O. Stopping
 * early ends the iterator, which resets the statement (its read snapshot is released). A statement
 * that returns no rows (a plain write) runs once and yields nothing.
 */
export function sqliteRowStream<R>(
  db: SqliteDatabase,
  alias: string,
  sql: string,
  params: readonly unknown[],
  options: DriverStreamOptions,
  exact: boolean,
): DriverRowStream<R> {
  let rows: IterableIterator<unknown> | undefined;
  let finished = false;
  const open = (): IterableIterator<unknown> => {
    const stmt = db.prepare(sql);
    if (!stmt.reader) {
      stmt.run(toSqliteParams(params));
      finished = true;
      return [][Symbol.iterator]();
    }
    if (options.rowMode === 'array') stmt.raw(true);
    return stmt.iterate(toSqliteParams(params)) as IterableIterator<unknown>;
  };
  return {
    next(): Promise<R[]> {
      const batch: unknown[] = [];
      try {
        rows ??= open();
        while (!finished && batch.length < options.batchSize) {
          const step = rows.next();
          if (step.done === true) finished = true;
          else batch.push(step.value);
        }
      } catch (error) {
        finished = true;
        return Promise.reject(mapSqliteError(error, { alias, sql }));
      }
      if (exact) exactRows(batch);
      return new Promise((resolve) => setImmediate(resolve, batch as R[]));
    },
    close(): Promise<void> {
      if (!finished) rows?.return?.();
      finished = true;
      return Promise.resolve();
    },
  };
}
