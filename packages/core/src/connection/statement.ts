/**
 * How a statement runs. Every entry point (`db.execute` / `query` / `executeFirst`, `Connection`,
 * transactions, `SyncConnection`, entities through them) goes through `runStatement`, in this order:
 *
 *   check (timeout, aborted signal) -> translate -> run -> record (metrics, slow log, events) -> map errors
 *
 * What differs between entry points is only where the statement runs, a `StatementRunner`: on the
 * caller's thread (SQLite inline, a synchronous connection), which returns the result at once, or
 * through the driver's promise with a timer and server-side cancel (connection.ts). Running in place
 * is therefore an optimisation inside this one sequence, not a path of its own.
 */
import { performance } from 'node:perf_hooks';
import { AbortedError, DalError } from '@dal/resilience';
import { checkParameterCount, compile, type CompiledSql, type TranslateTarget } from '@dal/sql-translate';
import type { DriverExecuteOptions, DriverResult } from '../driver/driver.js';
import { ConfigError, ConnectionError } from '../errors/errors.js';
import type { PoolRuntime } from '../pool/pool-runtime.js';
import type { ExecuteOptions, QueryResult } from './connection.js';
import { insertBatches } from './insert-batches.js';
import type { ReaderCache } from './reader-cache.js';
import { inPlaceStatementEnded, yieldIfBusy } from './event-loop.js';
import { instrumentation, type DalInstrumentation } from '../instrumentation.js';

export const NO_PARAMS: readonly unknown[] = Object.freeze([]);

/** What a one-statement call returns: `execute`'s rows, `query`'s whole result, or `executeFirst`'s row. */
export type ResultShape = 'rows' | 'result' | 'first';

/** Where a statement runs: the one thing the entry points differ in. */
export interface StatementRunner {
  /**
   * Run on the caller's thread and return the result, or undefined (having run nothing) when the
   * statement must wait, e.g. for a lock held elsewhere; `run` is then used. Null when the
   * connection cannot run statements on this thread.
   */
  runNow(nativeSql: string, params: readonly unknown[], options: DriverExecuteOptions): DriverResult<unknown> | undefined | null;
  /**
   * Run and wait. Settles with the result or the statement's error; honours the timeout and the
   * signal by rejecting with `QueryTimeoutError` / `AbortedError` at once and stopping the statement
   * on the server. Never called by synchronous connections (their `runNow` always answers).
   */
  run(nativeSql: string, params: readonly unknown[], options: DriverExecuteOptions, signal: AbortSignal | undefined): Promise<DriverResult<unknown>>;
  /** Prepared readers for `executeFirst` on this thread, when the driver has them. */
  readonly readers: ReaderCache | undefined;
  /** Inside an explicit transaction: a statement invalidated elsewhere is then not re-run here. */
  inTransaction(): boolean;
  /** The statement failed because its connection did: it is pinged before it is used again. */
  connectionFailed(): void;
  /**
   * Only on a connection lent for this one statement (`db.execute` on a pool whose connections run
   * in place, lent-connection.ts): called once the statement ran, to give the connection back at
   * `endedAt` (the pipeline's own clock reading). Its acquisition and release are then recorded with
   * the statement, in one pass.
   */
  giveBack?(endedAt: number): void;
}

/**
 * What `runStatement` returns when a lent connection's statement must wait (a lock): nothing ran or
 * was recorded and the connection is back in the pool; the caller runs it through a `Connection`.
 */
export const WAITS: unique symbol = Symbol('waits');

/**
 * Portable SQL translated for `target` (a cache hit after the first time), its placeholders
 * checked against `values`.
 * @throws {TranslationError} when they do not match.
 */
export function compileFor(sql: string, values: readonly unknown[], target: TranslateTarget): CompiledSql {
  const compiled = compile(sql, target);
  if (compiled.parameterCount !== values.length) checkParameterCount(compiled, values, target);
  return compiled;
}

/**
 * The checks before a statement reaches the driver; returns its timeout (the call's, else the config's).
 * The circuit breaker is not consulted here: it guards opening connections (connection-gate.ts),
 * and a statement always runs on one that is open already.
 * @throws {ConfigError} for a timeout that is not a positive number.
 * @throws {AbortedError} when `options.signal` already aborted.
 */
export function checkBeforeRun(runtime: PoolRuntime, options: ExecuteOptions | undefined): number {
  if (options === undefined) return runtime.defaultDriverOptions.timeoutMs;
  const timeoutMs = options.timeoutMs ?? runtime.config.queryExecutionTimeoutMs;
  if (!(timeoutMs > 0)) {
    throw new ConfigError(`${runtime.config.alias}: timeoutMs must be a positive number of milliseconds (Infinity for none), got ${String(timeoutMs)}`);
  }
  const signal = options.signal;
  if (signal?.aborted) throw new AbortedError(`${runtime.config.alias}: statement aborted before it started`, signal.reason);
  return timeoutMs;
}

function shaped(result: DriverResult<unknown>, shape: ResultShape): unknown {
  return shape === 'rows' ? result.rows : shape === 'first' ? result.rows[0] : result;
}

/** True for a statement the server refused because DDL elsewhere invalidated what was prepared for it. */
export function isStaleStatement(error: unknown): boolean {
  return DalError.isInstance(error) && error.code === 'DAL_STALE_STATEMENT';
}

/** One call's statement as it goes through the pipeline. */
interface Statement {
  readonly runtime: PoolRuntime;
  readonly runner: StatementRunner;
  readonly nativeSql: string;
  readonly values: readonly unknown[];
  readonly options: ExecuteOptions | undefined;
  readonly shape: ResultShape;
  readonly timeoutMs: number;
}

/**
 * Record a statement that succeeded (metrics, slow log, events); a connection lent for it goes
 * back to the pool. Written as a function of the statement's parts rather than a method, so that
 * the in-place hot path allocates nothing for it.
 */
function recordSuccess(
  runtime: PoolRuntime,
  runner: StatementRunner,
  nativeSql: string,
  values: readonly unknown[],
  options: ExecuteOptions | undefined,
  timeoutMs: number,
  startedAt: number,
  endedAt: number,
  inPlace: boolean,
): void {
  const durationMs = endedAt - startedAt;
  if (inPlace) {
    inPlaceStatementEnded(endedAt);
    if (durationMs > timeoutMs) runtime.reportOverrun(durationMs, timeoutMs, nativeSql);
    if (runner.giveBack !== undefined) {
      runner.giveBack(endedAt);
      runtime.recordInPlaceStatement(durationMs, startedAt, options?.tags, nativeSql, values);
      return;
    }
  }
  runtime.recordQuery(durationMs, undefined, options?.tags, nativeSql, values);
}

/**
 * Map and record a failure; a broken connection is marked; a lent connection is given back
 * unless `runsAgain` says the statement runs again. Returns the error the caller gets.
 */
function recordFailure(statement: Statement, error: unknown, startedAt: number, inPlace: boolean, runsAgain: (mapped: DalError) => boolean): DalError {
  const { runtime, runner } = statement;
  const mapped = runtime.mapError(error, statement.nativeSql);
  if (mapped instanceof ConnectionError) runner.connectionFailed();
  const endedAt = performance.now();
  if (inPlace) inPlaceStatementEnded(endedAt);
  const lent = inPlace && runner.giveBack !== undefined;
  if (lent) runtime.metrics.recordAcquire(0, startedAt);
  runtime.recordQuery(endedAt - startedAt, mapped, statement.options?.tags, statement.nativeSql, statement.values);
  if (lent) runtime.metrics.recordRelease(endedAt - startedAt);
  if (!runsAgain(mapped) && lent) runner.giveBack!(endedAt);
  return mapped;
}

/** Once, outside a transaction: a statement invalidated by DDL elsewhere did not run, so it runs again. */
function reRunsStale(statement: Statement, error: DalError, attempt: number): boolean {
  return attempt === 0 && isStaleStatement(error) && !statement.runner.inTransaction();
}

/**
 * Run one statement written in portable SQL through the pipeline. Returns the result at once when
 * the runner answered on this thread, else a promise. It is reported to the installed
 * instrumentation, if any, unless `reported` (the run inside the instrumentation's hook).
 * @throws {DalError} synchronously, when the checks or the translation fail or a statement run on
 *   this thread fails; a promise's rejection otherwise.
 */
export function runStatement(
  runtime: PoolRuntime,
  runner: StatementRunner,
  sql: string,
  params: readonly unknown[] | undefined,
  options: ExecuteOptions | undefined,
  shape: ResultShape,
  reported = false,
): unknown {
  if (instrumentation !== undefined && !reported) {
    const nativeSql = compile(sql, runtime.translateTarget).sql;
    return traced(instrumentation, runtime, nativeSql, params?.length ?? 0, options, () => runStatement(runtime, runner, sql, params, options, shape, true));
  }
  const timeoutMs = checkBeforeRun(runtime, options);
  const values = params ?? NO_PARAMS;
  if (shape !== 'result' && runner.readers !== undefined && options?.rowMode !== 'array') {
    const read = readWithReader(runtime, runner, runner.readers, sql, values, options, timeoutMs, shape === 'first');
    if (read !== READ_FAILED) return read;
  }
  const nativeSql = compileFor(sql, values, runtime.translateTarget).sql;
  return runNative({ runtime, runner, nativeSql, values, options, shape, timeoutMs }, 0);
}

/**
 * Run one native statement (already translated, e.g. by `executeMany` or for transaction control)
 * through the same run, record and map steps (`reported` as for `runStatement`).
 */
export function runNativeStatement(
  runtime: PoolRuntime,
  runner: StatementRunner,
  nativeSql: string,
  params: readonly unknown[],
  options: ExecuteOptions | undefined,
  reported = false,
): QueryResult | Promise<QueryResult> {
  if (instrumentation !== undefined && !reported) {
    return traced(instrumentation, runtime, nativeSql, params.length, options, () => runNativeStatement(runtime, runner, nativeSql, params, options, true)) as QueryResult | Promise<QueryResult>;
  }
  const timeoutMs = checkBeforeRun(runtime, options);
  return runNative({ runtime, runner, nativeSql, values: params, options, shape: 'result', timeoutMs }, 0) as QueryResult | Promise<QueryResult>;
}

/**
 * A statement handed to the installed instrumentation (instrumentation.ts), which runs it inside
 * its span. Lent connections never get here (database.ts does not lend while one is installed): a
 * lent connection's statement may come back unrun (WAITS) and run again elsewhere.
 */
function traced(
  hooks: DalInstrumentation,
  runtime: PoolRuntime,
  nativeSql: string,
  parameterCount: number,
  options: ExecuteOptions | undefined,
  run: () => unknown,
): unknown {
  return hooks.statement({ pool: runtime.instrumented, sql: nativeSql, parameterCount, tags: options?.tags }, run);
}

function runNative(statement: Statement, attempt: number): unknown {
  const { runtime, runner, nativeSql, values, options, shape, timeoutMs } = statement;
  const driverOptions = runtime.defaultDriverOptions.for(timeoutMs, options?.rowMode, shape === 'first');
  const startedAt = performance.now();
  let now: DriverResult<unknown> | undefined | null;
  let again = false;
  try {
    now = runner.runNow(nativeSql, values, driverOptions);
  } catch (error) {
    const mapped = recordFailure(statement, error, startedAt, true, (e) => (again = reRunsStale(statement, e, attempt)));
    if (again) return runNative(statement, attempt + 1);
    throw mapped;
  }
  if (now != null) {
    recordSuccess(runtime, runner, nativeSql, values, options, timeoutMs, startedAt, performance.now(), true);
    return shaped(now, shape);
  }
  if (now === undefined && runner.giveBack !== undefined) {
    runner.giveBack(performance.now());
    return WAITS;
  }
  // Not on this thread (or it must wait for a lock): through the driver's promise, under the timer.
  const waitStartedAt = now === null ? startedAt : performance.now();
  return runner.run(nativeSql, values, driverOptions, options?.signal).then(
    (result) => {
      recordSuccess(runtime, runner, nativeSql, values, options, timeoutMs, waitStartedAt, performance.now(), false);
      return shaped(result, shape);
    },
    (error: unknown) => {
      const mapped = recordFailure(statement, error, waitStartedAt, false, (e) => (again = reRunsStale(statement, e, attempt)));
      if (again) return runNative(statement, attempt + 1);
      throw mapped;
    },
  );
}

/** What `readWithReader` returns when the reader could not answer: the statement then goes the general way. */
const READ_FAILED: unique symbol = Symbol('read failed');

/**
 * `executeFirst` (`first`) or `execute` through the connection's reader prepared once (one lookup
 * and the native call, no result object): the row or rows, or READ_FAILED when there is no reader
 * for it, the parameter count does not match (the general path's translation reports that) or the
 * reader threw (a lock, a value it cannot bind: a read-only query that failed changed nothing, and
 * the general path maps the error or waits).
 */
function readWithReader(
  runtime: PoolRuntime,
  runner: StatementRunner,
  readers: ReaderCache,
  sql: string,
  values: readonly unknown[],
  options: ExecuteOptions | undefined,
  timeoutMs: number,
  first: boolean,
): unknown {
  const cached = readers.get(sql);
  if (cached === null || cached.parameterCount !== values.length) return READ_FAILED;
  const { reader } = cached;
  if (!first && reader.all === undefined) return READ_FAILED;
  const startedAt = performance.now();
  let read: unknown;
  try {
    read = first ? reader.first(values) : reader.all!(values);
  } catch {
    return READ_FAILED;
  }
  recordSuccess(runtime, runner, cached.nativeSql, values, options, timeoutMs, startedAt, performance.now(), true);
  return read;
}

/**
 * Settle an async call with what `runStatement` gave: a value answered on this thread resolves
 * at once, unless such statements have kept the event loop busy for a while (see event-loop.ts).
 */
export function settle<T>(outcome: unknown): Promise<T> {
  if (outcome instanceof Promise) return outcome as Promise<T>;
  return yieldIfBusy(outcome as T);
}

/** One native statement of `executeMany`. */
export interface NativeStatement {
  readonly sql: string;
  readonly params: readonly unknown[];
}

/**
 * The native statements `executeMany` runs: one per parameter list, or a few multi-row INSERTs
 * when `multiRowInsert` and `sql` is a plain single-row INSERT (see insert-batches.ts).
 * @throws {TypeError} when `paramsList` is not an array.
 * @throws {TranslationError} when a parameter list does not match the placeholders.
 */
export function executeManyStatements(
  sql: string,
  paramsList: readonly (readonly unknown[])[],
  target: TranslateTarget,
  multiRowInsert: boolean,
): NativeStatement[] {
  if (!Array.isArray(paramsList)) throw new TypeError('executeMany needs an array of parameter lists');
  const compiled = compile(sql, target);
  for (const params of paramsList) checkParameterCount(compiled, params, target);
  const batches = multiRowInsert ? insertBatches(sql, paramsList) : undefined;
  if (batches === undefined) return paramsList.map((params) => ({ sql: compiled.sql, params }));
  return batches.map((batch) => ({ sql: compile(batch.sql, target).sql, params: batch.params }));
}
