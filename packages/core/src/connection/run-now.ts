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

/**
 * `Database.query`'s fast path: portable SQL on an idle connection that runs on the caller's
 * thread. Undefined as for `runNow`. The caller gives the entry back.
 * @throws {DalError} as `runNow`, or a TranslationError when the parameters do not match.
 */
export function queryNow<R>(
  runtime: PoolRuntime,
  entry: PoolEntry,
  sql: string,
  params: readonly unknown[] | undefined,
  options: ExecuteOptions | undefined,
  firstRow: boolean,
): QueryResult<R> | undefined {
  const values = params ?? NO_PARAMS;
  const compiled = compileFor(sql, values, runtime.translateTarget);
  // The entry was checked out a moment ago: its checkout time is the statement's start (one clock read less).
  return runNow<R>(runtime, entry, compiled.sql, values, options, firstRow, entry.acquiredAt);
}
