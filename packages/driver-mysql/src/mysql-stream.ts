import type { DriverRowStream, DriverStreamOptions } from '@dal/core';
import { mapMysqlError } from './map-error.js';
import type { NativeError, NativeField } from './native-connection.js';

/** mysql2's Query command as an event emitter (what `query` returns without a callback). */
interface QueryEvents {
  on(event: 'result', listener: (row: unknown) => void): QueryEvents;
  on(event: 'fields', listener: (fields: readonly NativeField[]) => void): QueryEvents;
  on(event: 'error', listener: (error: NativeError) => void): QueryEvents;
  on(event: 'end', listener: () => void): QueryEvents;
}

/** The part of a mysql2 connection a streamed query uses. */
export interface StreamingNative {
  query(statement: string | { sql: string; rowsAsArray?: boolean }, values?: unknown): QueryEvents;
  /** Stop / go on reading the socket: the server then waits to send more rows (TCP backpressure). */
  pause(): void;
  resume(): void;
}

/** What a streamed query needs from its MysqlConnection. */
export interface StreamSession {
  readonly alias: string;
  readonly native: StreamingNative;
  /** Prefix lifting the session's server-side statement bound for this one statement ('' for none). */
  readonly unboundPrefix: string;
  /** `KILL QUERY` on this session from the side connection. */
  killQuery(): Promise<void>;
  /** Exact BIGINTs for a batch of rows, as `execute` gives them. */
  convertRows(rows: unknown[], fields: readonly NativeField[]): void;
  /** The statement ended on the server (the connection takes statements again). */
  ended(): void;
}

/**
 * A statement's rows streamed by mysql2 (text protocol) with backpressure: the socket is paused
 * once a batch is buffered and resumed when core asks for it, so the server waits instead of the
 * client buffering the result. Stopping early sends `KILL QUERY` and discards what is still in
 * flight; the session stays usable.
 */
export function mysqlRowStream<R>(session: StreamSession, sql: string, values: readonly unknown[] | undefined, options: DriverStreamOptions): DriverRowStream<R> {
  const { native, alias, unboundPrefix } = session;
  const { batchSize } = options;
  let buffered: unknown[] = [];
  let fields: readonly NativeField[] = [];
  let started = false;
  let finished = false;
  let discarding = false;
  let failure: unknown;
  let waiter: { resolve: (rows: R[]) => void; reject: (error: unknown) => void } | undefined;
  let onFinished: (() => void) | undefined;

  const takeBatch = (): R[] => {
    const batch = buffered.length <= batchSize ? buffered : buffered.slice(0, batchSize);
    buffered = batch === buffered ? [] : buffered.slice(batchSize);
    session.convertRows(batch, fields);
    if (!finished && buffered.length < batchSize) native.resume();
    return batch as R[];
  };
  const answer = (): void => {
    const pending = waiter;
    if (pending === undefined) return;
    if (failure !== undefined) {
      waiter = undefined;
      pending.reject(failure);
    } else if (buffered.length >= batchSize || finished) {
      waiter = undefined;
      pending.resolve(takeBatch());
    }
  };
  const finish = (): void => {
    if (finished) return; // mysql2 may report the end after an error
    finished = true;
    native.resume();
    session.ended();
    answer();
    onFinished?.();
  };

  const start = (): void => {
    started = true;
    const text = unboundPrefix + sql;
    const statement = options.rowMode === 'array' ? { sql: text, rowsAsArray: true } : text;
    native
      .query(statement, values)
      .on('fields', (columns) => {
        fields = columns;
      })
      .on('result', (row) => {
        if (discarding) return;
        buffered.push(row);
        if (buffered.length >= batchSize) {
          native.pause();
          answer();
        }
      })
      .on('error', (error) => {
        if (!discarding) failure = mapMysqlError(error, { alias, sql });
        finish();
      })
      .on('end', finish);
  };

  return {
    next(): Promise<R[]> {
      if (!started) start();
      if (failure !== undefined) return Promise.reject(failure);
      return new Promise<R[]>((resolve, reject) => {
        waiter = { resolve, reject };
        answer();
      });
    },
    async close(): Promise<void> {
      if (!started) session.ended();
      if (!started || finished) return;
      // Rows are left: stop the query on the server, then drop what is still on its way.
      discarding = true;
      buffered = [];
      const done = new Promise<void>((resolve) => (onFinished = resolve));
      await session.killQuery();
      native.resume();
      await done;
    },
  };
}
