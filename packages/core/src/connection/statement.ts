import { AbortedError } from '@dal/resilience';
import { checkParameterCount, compile, type CompiledSql, type TranslateTarget } from '@dal/sql-translate';
import { ConfigError } from '../errors/errors.js';
import type { PoolRuntime } from '../pool/pool-runtime.js';
import type { ExecuteOptions } from './connection.js';
import { insertBatches } from './insert-batches.js';

// What every way of running a statement shares: Connection (async), SyncConnection and the
// synchronous fast path of run-now.ts.

export const NO_PARAMS: readonly unknown[] = Object.freeze([]);

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
 * @throws {ConfigError} for a timeout that is not a positive number.
 * @throws {AbortedError} when `options.signal` already aborted.
 * The circuit breaker is not consulted here: it guards opening connections (connection-gate.ts),
 * and a statement always runs on one that is open already.
 */
export function checkBeforeRun(runtime: PoolRuntime, options: ExecuteOptions | undefined): number {
  const alias = runtime.config.alias;
  const timeoutMs = options?.timeoutMs ?? runtime.config.queryExecutionTimeoutMs;
  if (!(timeoutMs > 0)) {
    throw new ConfigError(`${alias}: timeoutMs must be a positive number of milliseconds (Infinity for none), got ${String(timeoutMs)}`);
  }
  const signal = options?.signal;
  if (signal?.aborted) throw new AbortedError(`${alias}: statement aborted before it started`, signal.reason);
  return timeoutMs;
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
