import { performance } from 'node:perf_hooks';
import { ConnectionError } from '../errors/errors.js';
import type { PoolEntry } from '../pool/pool.js';
import type { PoolRuntime } from '../pool/pool-runtime.js';
import type { ExecuteOptions, QueryResult } from './connection.js';
import { NO_PARAMS, checkBeforeRun, compileFor } from './statement.js';

// Statements on connections that run on the caller's thread (`DriverConnection.executeNow`, SQLite
// inline). Such a statement has finished before any timer or abort listener could run, so these
// helpers skip both and settle nothing asynchronously: the caller wraps the outcome in one promise.

/**
 * Run one native statement on `entry` synchronously, with the checks, error mapping and metrics of
 * the async path, timed from `started` (a `performance.now()` reading). Undefined (nothing ran,
 * nothing counted) when the driver says the statement must wait for a lock: the caller then goes
 * the async way.
 * @throws {DalError} the mapped error (also for an aborted signal or an open circuit).
 */
export function runNow<R>(
  runtime: PoolRuntime,
  entry: PoolEntry,
  nativeSql: string,
  params: readonly unknown[],
  options: ExecuteOptions | undefined,
  firstRow: boolean,
  started: number,
): QueryResult<R> | undefined {
  const timeoutMs = checkBeforeRun(runtime, options);
  let result: QueryResult<R> | undefined;
  try {
    const driverOptions = runtime.defaultDriverOptions.for(timeoutMs, options?.rowMode, firstRow);
    result = entry.conn.executeNow!<R>(nativeSql, params, driverOptions) as QueryResult<R> | undefined;
  } catch (error) {
    const mapped = runtime.mapError(error, nativeSql);
    if (mapped instanceof ConnectionError) {
      entry.needsValidation = true;
      runtime.reportConnectionFailure(mapped);
    }
    runtime.recordQuery(performance.now() - started, mapped, options?.tags, nativeSql, params);
    throw mapped;
  }
  if (result === undefined) return undefined;
  const durationMs = performance.now() - started;
  runtime.recordQuery(durationMs, undefined, options?.tags, nativeSql, params);
  if (durationMs > timeoutMs) runtime.reportOverrun(durationMs, timeoutMs, nativeSql);
  return result;
}

/** True while a statement runs in place: a call made from inside it (a driver callback) must not pick the same connection. */
let runningInPlace = false;

/**
 * `Database`'s fast path for connections that run statements on the caller's thread: the
 * statement runs on the pool's next idle connection without checking it out. Nothing else can
 * run between the start and the end of a synchronous call, so a checkout and check-in would be
 * invisible, and they cost a clock read and a list update each (a tenth of a SQLite point
 * select together); the metrics count one acquisition, statement and release as before.
 * Undefined (nothing ran, nothing counted) when there is no such connection ready, the signal
 * aborted, the breaker is not closed, or the statement must wait for a lock: the caller then
 * goes through the pool.
 * @throws {DalError} as `runNow`, or a TranslationError when the parameters do not match.
 */
export function queryInPlace<R>(
  runtime: PoolRuntime,
  sql: string,
  params: readonly unknown[] | undefined,
  options: ExecuteOptions | undefined,
  firstRow: boolean,
): QueryResult<R> | undefined {
  const entry = runtime.pool.peekIdleRunningNow();
  if (entry === undefined || runningInPlace) return undefined;
  if (options?.signal?.aborted === true || (runtime.breaker !== undefined && runtime.breaker.state !== 'closed')) return undefined;
  const started = performance.now();
  if (runtime.pool.expired(entry, started)) return undefined;
  const values = params ?? NO_PARAMS;
  const nativeSql = compileFor(sql, values, runtime.translateTarget).sql;
  const timeoutMs = options === undefined ? runtime.defaultDriverOptions.timeoutMs : checkBeforeRun(runtime, options);
  let result: QueryResult<R> | undefined;
  runningInPlace = true;
  try {
    result = entry.conn.executeNow!<R>(nativeSql, values, runtime.defaultDriverOptions.for(timeoutMs, options?.rowMode, firstRow)) as QueryResult<R> | undefined;
  } catch (error) {
    runningInPlace = false;
    const ended = performance.now();
    const mapped = runtime.mapError(error, nativeSql);
    if (mapped instanceof ConnectionError) {
      entry.needsValidation = true;
      runtime.reportConnectionFailure(mapped);
    }
    runtime.metrics.recordAcquire(0, started);
    runtime.recordQuery(ended - started, mapped, options?.tags, nativeSql, values);
    runtime.metrics.recordRelease(ended - started);
    entry.lastReleasedAt = ended;
    throw mapped;
  }
  runningInPlace = false;
  if (result === undefined) return undefined;
  const ended = performance.now();
  const durationMs = ended - started;
  entry.lastReleasedAt = ended;
  runtime.recordInPlaceQuery(durationMs, started, options?.tags, nativeSql, values);
  if (durationMs > timeoutMs) runtime.reportOverrun(durationMs, timeoutMs, nativeSql);
  return result;
}
