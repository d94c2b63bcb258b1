/**
 * The rules of transactions that `Connection` (async) and `SyncConnection` share: when to re-run,
 * what a failed COMMIT means, how savepoints are named.
 */
import { DalError } from '@dal/resilience';
import { ConnectionError, TransactionError } from '../errors/errors.js';
import type { QueryResult } from './connection.js';
import { isStaleStatement } from './statement.js';

/**
 * True for errors that mean "run the whole transaction again": a deadlock, a serialization
 * failure, or a statement invalidated by DDL in another session (it aborted the transaction).
 */
export function isTransactionConflict(error: unknown): boolean {
  return DalError.isInstance(error) && (error.code === 'DAL_DEADLOCK' || error.code === 'DAL_SERIALIZATION_FAILURE' || isStaleStatement(error));
}

/** The error a failed COMMIT becomes: with the connection lost, nobody knows whether it committed. */
export function commitFailure(alias: string, error: unknown): unknown {
  if (error instanceof ConnectionError) {
    return new TransactionError(`${alias}: the connection was lost during COMMIT; the outcome is unknown`, { cause: error });
  }
  return error;
}

/** Backoff before re-running a transaction: exponential with jitter. */
export function retryDelayMs(attempt: number, retry: { baseDelayMs?: number; maxDelayMs?: number } | undefined): number {
  const baseDelayMs = retry?.baseDelayMs ?? 20;
  const maxDelayMs = retry?.maxDelayMs ?? 1_000;
  return Math.min(maxDelayMs, baseDelayMs * 2 ** attempt) * (0.5 + Math.random() / 2);
}

/** Re-runs a transaction may take: `retry.maxRetries`, 3 with `retry: {}`, none without. */
export function maxTransactionRetries(retry: { maxRetries?: number } | undefined): number {
  return retry?.maxRetries ?? (retry ? 3 : 0);
}

/** Fold one statement's result into `executeMany`'s total. */
export function addResult(total: QueryResult, result: QueryResult): void {
  total.affectedRows += result.affectedRows;
  if (result.rows.length > 0) total.rows.push(...result.rows);
  if (result.insertId !== undefined) total.insertId = result.insertId;
}
