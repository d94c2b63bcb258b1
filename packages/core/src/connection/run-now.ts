import { performance } from 'node:perf_hooks';
import { ConnectionError } from '../errors/errors.js';
import type { PoolEntry } from '../pool/pool.js';
import type { DalError } from '@dal/resilience';
import type { PoolRuntime } from '../pool/pool-runtime.js';
import type { ExecuteOptions, QueryResult } from './connection.js';
import { ReaderCache, type CachedReader } from './reader-cache.js';
import { NO_PARAMS, checkBeforeRun, compileFor } from './statement.js';

// Statements on connections that run on the caller's thread (`DriverConnection.executeNow`, SQLite
// inline). Such a statement has finished before any timer or abort listener could run, so these
// helpers skip both and settle nothing asynchronously: the caller wraps the outcome in one promise.

/**
 * The error of a statement that failed on `entry` after `durationMs`, mapped and counted; a
 * connection failure also marks the connection for a ping before it is handed out again.
 */
function statementFailed(
  runtime: PoolRuntime,
  entry: PoolEntry,
  error: unknown,
  durationMs: number,
  nativeSql: string,
  params: readonly unknown[],
  options: ExecuteOptions | undefined,
): DalError {
  const mapped = runtime.mapError(error, nativeSql);
  if (mapped instanceof ConnectionError) entry.needsValidation = true;
  runtime.recordQuery(durationMs, mapped, options?.tags, nativeSql, params);
  return mapped;
}

/**
 * Run one native statement on the checked-out `entry` synchronously, with the checks, error
 * mapping and metrics of the async path. Undefined (nothing ran, nothing counted) when the driver
 * says the statement must wait for a lock: the caller then goes the async way.
 * @throws {DalError} the mapped error (also for an aborted signal or an open circuit).
 */
export function runNow<R>(
  runtime: PoolRuntime,
  entry: PoolEntry,
  nativeSql: string,
  params: readonly unknown[],
  options: ExecuteOptions | undefined,
  firstRow: boolean,
): QueryResult<R> | undefined {
  const timeoutMs = checkBeforeRun(runtime, options);
  const started = performance.now();
  let result: QueryResult<R> | undefined;
  try {
    const driverOptions = runtime.defaultDriverOptions.for(timeoutMs, options?.rowMode, firstRow);
    result = entry.conn.executeNow!<R>(nativeSql, params, driverOptions) as QueryResult<R> | undefined;
  } catch (error) {
    throw statementFailed(runtime, entry, error, performance.now() - started, nativeSql, params, options);
  }
  if (result === undefined) return undefined;
  const durationMs = performance.now() - started;
  runtime.recordQuery(durationMs, undefined, options?.tags, nativeSql, params);
  if (durationMs > timeoutMs) runtime.reportOverrun(durationMs, timeoutMs, nativeSql);
  return result;
}

/** What `queryInPlace` returns when it ran nothing: the caller goes through the pool. */
export const RUN_POOLED: unique symbol = Symbol('run pooled');

/** What a one-statement call returns: `execute`'s rows, `query`'s whole result, or `executeFirst`'s row. */
export type ResultShape = 'rows' | 'result' | 'first';

/** A reader's first row, or READ_FAILED when it threw (the statement then runs again through `executeNow`). */
const READ_FAILED: unique symbol = Symbol('read failed');

function readFirst(reader: CachedReader, values: readonly unknown[]): unknown {
  try {
    return reader.reader.first(values);
  } catch {
    return READ_FAILED;
  }
}

/** The prepared readers of `entry`'s connection, or null when its driver has none. */
function readersOf(entry: PoolEntry, runtime: PoolRuntime): ReaderCache | null {
  if (entry.readers === undefined) entry.readers = ReaderCache.of(entry.conn, runtime.translateTarget) ?? null;
  return entry.readers;
}

/**
 * `Database`'s fast path for connections that run statements on the caller's thread: acquire,
 * run and release happen in this one synchronous call, with two clock reads (start and end) and
 * one metrics pass for the acquisition, the statement and the release, since the connection
 * cannot be seen in use by anything else meanwhile (except a call made from inside the statement,
 * e.g. by a parameter's `toJSON`, which finds it checked out and waits as usual). An
 * `executeFirst` goes through the connection's prepared reader when its driver has them.
 * Returns what the caller gets for `shape`, or RUN_POOLED (nothing ran, nothing counted) when no
 * such connection is idle, the signal aborted, the connection is too
 * old (it is closed), or the statement must wait for a lock: the caller then goes through the pool.
 * @throws {DalError} as `runNow`, or a TranslationError when the parameters do not match.
 */
export function queryInPlace(
  runtime: PoolRuntime,
  sql: string,
  params: readonly unknown[] | undefined,
  options: ExecuteOptions | undefined,
  shape: ResultShape,
): unknown {
  if (options?.signal?.aborted === true) return RUN_POOLED;
  const pool = runtime.pool;
  const entry = pool.checkOutRunNow();
  if (entry === undefined) return RUN_POOLED;
  const started = performance.now();
  entry.acquiredAt = started;
  let outcome: unknown = READ_FAILED;
  let nativeSql: string | undefined;
  const values = params ?? NO_PARAMS;
  try {
    if (pool.expired(entry, started)) {
      pool.checkInRunNow(entry, started); // closes it
      return RUN_POOLED;
    }
    const timeoutMs = options === undefined ? runtime.defaultDriverOptions.timeoutMs : checkBeforeRun(runtime, options);
    if (shape === 'first' && options?.rowMode !== 'array') {
      const reader = readersOf(entry, runtime)?.get(sql);
      // A parameter count that does not match goes the general way, whose translation reports it.
      if (reader != null && reader.parameterCount === values.length) {
        outcome = readFirst(reader, values);
        if (outcome !== READ_FAILED) nativeSql = reader.nativeSql;
      }
    }
    if (nativeSql === undefined) {
      nativeSql = compileFor(sql, values, runtime.translateTarget).sql;
      const result = entry.conn.executeNow!(nativeSql, values, runtime.defaultDriverOptions.for(timeoutMs, options?.rowMode, shape === 'first'));
      if (result === undefined) {
        pool.checkInRunNow(entry, started);
        return RUN_POOLED;
      }
      outcome = shape === 'rows' ? result.rows : shape === 'first' ? result.rows[0] : result;
    }
    const ended = performance.now();
    const durationMs = ended - started;
    pool.checkInRunNow(entry, ended);
    runtime.recordInPlaceStatement(durationMs, started, options?.tags, nativeSql, values);
    if (durationMs > timeoutMs) runtime.reportOverrun(durationMs, timeoutMs, nativeSql);
    return outcome;
  } catch (error) {
    const ended = performance.now();
    if (nativeSql === undefined) {
      // The options or the translation failed: nothing ran, nothing is counted.
      pool.checkInRunNow(entry, ended);
      throw error;
    }
    runtime.metrics.recordAcquire(0, started);
    const mapped = statementFailed(runtime, entry, error, ended - started, nativeSql, values, options);
    runtime.metrics.recordRelease(ended - started);
    pool.checkInRunNow(entry, ended);
    throw mapped;
  }
}
