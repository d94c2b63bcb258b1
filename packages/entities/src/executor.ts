/**
 * Entity operations are written once, as generators that yield the statements they need; a
 * runner executes them on an async `Connection` or a synchronous `SyncConnection`.
 */
import type { Connection, QueryResult, SyncConnection } from '@dal/core';
import { EntityError } from '@dal/core';

/** One thing an operation asks its runner to do. */
export type Step =
  | { readonly kind: 'query'; readonly sql: string; readonly params: readonly unknown[] }
  /** Run `body` in a transaction (a savepoint when one is open). */
  | { readonly kind: 'transaction'; readonly body: () => Op<unknown> }
  /** Run `body` on another connection of the same pool, outside this one's transaction. */
  | { readonly kind: 'detached'; readonly body: () => Op<unknown> };

/** An operation: yields steps, receives their results, returns T. */
export type Op<T> = Generator<Step, T, unknown>;

/** Run one statement (portable SQL with native quoting and `?` placeholders). */
export function* query(sql: string, params: readonly unknown[] = []): Op<QueryResult> {
  return (yield { kind: 'query', sql, params }) as QueryResult;
}

/** Run `body` atomically: in a transaction of its own, or a savepoint of the open one. */
export function* transaction<T>(body: () => Op<T>): Op<T> {
  return (yield { kind: 'transaction', body }) as T;
}

/** Run `body` on a separate pooled connection (its statements commit on their own). */
export function* detached<T>(body: () => Op<T>): Op<T> {
  return (yield { kind: 'detached', body }) as T;
}

/** Per-call statement options for async runs. */
export interface RunOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Drive an operation on an async connection. */
export async function runAsync<T>(conn: Connection, op: Op<T>, options: RunOptions): Promise<T> {
  let next = op.next();
  for (;;) {
    if (next.done === true) return next.value;
    let result: unknown;
    try {
      result = await performAsync(conn, next.value, options);
    } catch (error) {
      next = op.throw(error);
      continue;
    }
    next = op.next(result);
  }
}

async function performAsync(conn: Connection, step: Step, options: RunOptions): Promise<unknown> {
  switch (step.kind) {
    case 'query':
      return conn.query(step.sql, step.params, options);
    case 'transaction':
      return conn.transaction((tx) => runAsync(tx, step.body(), options));
    case 'detached': {
      const other = await conn.separateConnection(options.signal === undefined ? {} : { signal: options.signal });
      try {
        return await runAsync(other, step.body(), options);
      } finally {
        await other.release();
      }
    }
  }
}

/** Drive an operation on a synchronous connection. */
export function runSync<T>(conn: SyncConnection, op: Op<T>): T {
  let next = op.next();
  for (;;) {
    if (next.done === true) return next.value;
    let result: unknown;
    try {
      result = performSync(conn, next.value);
    } catch (error) {
      next = op.throw(error);
      continue;
    }
    next = op.next(result);
  }
}

function performSync(conn: SyncConnection, step: Step): unknown {
  switch (step.kind) {
    case 'query':
      return conn.query(step.sql, step.params);
    case 'transaction':
      return conn.transaction((tx) => runSync(tx, step.body()));
    case 'detached':
      throw new EntityError(`${conn.alias}: this schema change needs a second connection, which a SyncConnection cannot open; run it on an async connection`);
  }
}
