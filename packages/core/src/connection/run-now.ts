import { performance } from 'node:perf_hooks';
import { ConnectionError } from '../errors/errors.js';
import type { PoolEntry } from '../pool/pool.js';
import type { DalError } from '@dal/resilience';
import type { PoolRuntime } from '../pool/pool-runtime.js';
import type { ExecuteOptions, QueryResult } from './connection.js';
import { NO_PARAMS, checkBeforeRun, compileFor } from './statement.js';

// Statements on connections that run on the caller's thread (`DriverConnection.executeNow`, SQLite
// inline). Such a statement has finished before any timer or abort listener could run, so these
// helpers skip both and settle nothing asynchronously: the caller wraps the outcome in one promise.

/**
 * The error of a statement that failed on `entry` after `durationMs`, mapped and counted; a
 * connection failure also marks the connection for a ping and counts against the breaker.
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
  if (mapped instanceof ConnectionError) {
    entry.needsValidation = true;
    runtime.reportConnectionFailure(mapped);
  }
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

/**
 * `Database`'s fast path for connections that run statements on the caller's thread: acquire,
 * run and release happen in this one synchronous call, with two clock reads (start and end) and
 * one metrics pass for the acquisition, the statement and the release, since the connection
 * cannot be seen in use by anything else meanwhile (except a call made from inside the statement,
 * e.g. by a parameter's `toJSON`, which finds it checked out and waits as usual). Undefined
 * (nothing ran, nothing counted) when no such connection is idle, the signal aborted, the breaker
 * is not closed, the connection is too old (it is closed), or the statement must wait for a lock:
 * the caller then goes through the pool.
 * @throws {DalError} as `runNow`, or a TranslationError when the parameters do not match.
 */
export function queryInPlace<R>(
  runtime: PoolRuntime,
  sql: string,
  params: readonly unknown[] | undefined,
  options: ExecuteOptions | undefined,
  firstRow: boolean,
): QueryResult<R> | undefined {
  if (options?.signal?.aborted === true || (runtime.breaker !== undefined && runtime.breaker.state !== 'closed')) return undefined;
  const pool = runtime.pool;
  const entry = pool.checkOutRunNow();
  if (entry === undefined) return undefined;
  const started = performance.now();
  entry.acquiredAt = started;
  let result: QueryResult<R> | undefined;
  let nativeSql: string | undefined;
  const values = params ?? NO_PARAMS;
  try {
    if (pool.expired(entry, started)) {
      pool.checkInRunNow(entry, started); // closes it
      return undefined;
    }
    const timeoutMs = options === undefined ? runtime.defaultDriverOptions.timeoutMs : checkBeforeRun(runtime, options);
    nativeSql = compileFor(sql, values, runtime.translateTarget).sql;
    result = entry.conn.executeNow!<R>(nativeSql, values, runtime.defaultDriverOptions.for(timeoutMs, options?.rowMode, firstRow)) as
      | QueryResult<R>
      | undefined;
    if (result === undefined) {
      pool.checkInRunNow(entry, started);
      return undefined;
    }
    const ended = performance.now();
    const durationMs = ended - started;
    pool.checkInRunNow(entry, ended);
    runtime.recordInPlaceStatement(durationMs, started, options?.tags, nativeSql, values);
    if (durationMs > timeoutMs) runtime.reportOverrun(durationMs, timeoutMs, nativeSql);
    return result;
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
