/**
 * `conn.stream` / `db.stream`: one statement's rows as an async iterable, read from the server in
 * batches so that memory stays flat however many rows there are.
 *
 * It takes the same steps as every other statement (statement.ts): the checks before it runs
 * (`checkBeforeRun`), translation (`compileFor`), the run, recording in metrics and the slow log,
 * and error mapping (`runtime.mapError`). The run differs: each batch is one driver call under the
 * statement's timeout and signal, so the timeout bounds each batch, not the caller's time spent
 * on the rows in between. Leaving the loop early (`break`, an error, an aborted signal) closes the
 * driver's stream, which stops the query on the server.
 */
import { performance } from 'node:perf_hooks';
import { AbortedError, type DalError } from '@dal/resilience';
import type { DriverConnection, DriverRowStream, DriverStreamOptions } from '../driver/driver.js';
import { ConfigError, ConnectionError } from '../errors/errors.js';
import type { PoolRuntime } from '../pool/pool-runtime.js';
import type { ExecuteOptions } from './connection.js';
import { NO_PARAMS, checkBeforeRun, compileFor } from './statement.js';
import { withinLimits } from './within-limits.js';

/** Options of `conn.stream` / `db.stream`. */
export interface StreamOptions extends Pick<ExecuteOptions, 'tags' | 'signal' | 'rowMode'> {
  /** Rows fetched from the server at a time (default 1000): memory holds about this many. */
  batchSize?: number;
  /** Bound on each batch's fetch (not on the whole iteration); defaults to `queryExecutionTimeoutMs`. */
  timeoutMs?: number;
}

export const DEFAULT_STREAM_BATCH_SIZE = 1_000;

/** What a stream needs from the connection it runs on (a `Connection`'s session). */
export interface StreamHost {
  readonly runtime: PoolRuntime;
  /** The driver connection, ready for a statement (a cancelled one has wound down). */
  ready(): Promise<DriverConnection>;
  /** Give up on `pending`: stop it on the server; the connection stays checked out until it has. */
  cancel(pending: Promise<unknown>): void;
  /** After a cancel: wait until the statement stopped; false when the connection is to be dropped. */
  settled(): Promise<boolean>;
  /** The connection failed: it is checked before it is used again. */
  connectionFailed(): void;
  /** The connection cannot be trusted any more (a close that did not finish): drop it on release. */
  discard(): void;
}

function batchSizeOf(runtime: PoolRuntime, options: StreamOptions | undefined): number {
  const batchSize = options?.batchSize ?? DEFAULT_STREAM_BATCH_SIZE;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new ConfigError(`${runtime.config.alias}: batchSize must be a positive integer, got ${String(batchSize)}`);
  }
  return batchSize;
}

/** A driver without `stream`: the whole result through `execute`, handed out as one batch. */
function wholeResult<R>(conn: DriverConnection, nativeSql: string, values: readonly unknown[], options: DriverStreamOptions): DriverRowStream<R> {
  let read = false;
  return {
    next: async () => {
      if (read) return [];
      read = true;
      return (await conn.execute<R>(nativeSql, values, options)).rows;
    },
    close: () => Promise.resolve(),
  };
}

/**
 * Rows of one statement in portable SQL, batch by batch, on the connection `host` stands for.
 * Checks and translation happen before the first row is asked for, so bad input fails the first
 * `next()` and nothing reaches the server.
 */
export async function* streamRows<R>(
  host: StreamHost,
  sql: string,
  params: readonly unknown[] | undefined,
  options: StreamOptions | undefined,
): AsyncGenerator<R, void, undefined> {
  const { runtime } = host;
  const alias = runtime.config.alias;
  const timeoutMs = checkBeforeRun(runtime, options);
  const batchSize = batchSizeOf(runtime, options);
  const values = params ?? NO_PARAMS;
  const nativeSql = compileFor(sql, values, runtime.translateTarget).sql;
  const driverOptions: DriverStreamOptions = { ...runtime.defaultDriverOptions.for(timeoutMs, options?.rowMode, false), batchSize };
  const signal = options?.signal;
  const giveUp = (pending: Promise<unknown>): void => host.cancel(pending);

  const conn = await host.ready();
  const rows: DriverRowStream<R> =
    conn.stream === undefined ? wholeResult<R>(conn, nativeSql, values, driverOptions) : conn.stream<R>(nativeSql, values, driverOptions);
  // Time spent waiting for the server, recorded as the statement's duration (the caller's own
  // time between batches is not the statement's).
  let serverMs = 0;
  let failure: DalError | undefined;
  try {
    for (;;) {
      const startedAt = performance.now();
      const batch = await withinLimits(rows.next(), timeoutMs, signal, alias, nativeSql, giveUp);
      serverMs += performance.now() - startedAt;
      if (batch.length === 0) return;
      for (let i = 0; i < batch.length; i++) {
        if (signal?.aborted) throw new AbortedError(`${alias}: stream aborted`, signal.reason);
        yield batch[i] as R;
      }
    }
  } catch (error) {
    failure = runtime.mapError(error, nativeSql);
    if (failure instanceof ConnectionError) host.connectionFailed();
    throw failure;
  } finally {
    // Runs on every way out: the end, an error, and the caller's `break` / `return`.
    const closedAt = performance.now();
    await closeStream(host, rows, timeoutMs, alias, nativeSql);
    serverMs += performance.now() - closedAt;
    runtime.recordQuery(serverMs, failure, options?.tags, nativeSql, values);
  }
}

/**
 * Close the driver's stream once any cancelled batch stopped; a connection that cannot be closed
 * in time (or is being dropped anyway) leaves the pool instead of carrying a half-read result.
 */
async function closeStream<R>(host: StreamHost, rows: DriverRowStream<R>, timeoutMs: number, alias: string, nativeSql: string): Promise<void> {
  if (!(await host.settled())) return;
  try {
    await withinLimits(rows.close(), timeoutMs, undefined, alias, nativeSql, () => host.discard());
  } catch {
    host.discard();
  }
}
