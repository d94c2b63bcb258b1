/**
 * Entity operations are written once, as generators that yield the statements they need; a
 * runner executes them on an async `Connection` or a synchronous `SyncConnection`.
 */
import { performance } from 'node:perf_hooks';
import type { Connection, ExecuteOptions, QueryResult, SyncConnection } from '@dal/core';
import { ConfigError, DalError, EntityError, QueryTimeoutError } from '@dal/core';

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

/** What an operation may spend when the caller gives no `timeoutMs`: the original's 60 s. */
export const DEFAULT_OPERATION_TIMEOUT_MS = 60_000;

/** Node fires longer timers at once. */
const MAX_TIMER_MS = 2_147_483_647;

/**
 * The time budget of one whole entity operation (the original's `timeout`): every statement,
 * schema change, pool wait and retry of it together. Each statement runs with what is left, so
 * the server cancels it at the operation's deadline; past the deadline no further step starts.
 */
export class Budget {
  readonly #alias: string;
  readonly #timeoutMs: number;
  /** The longest a single statement may run besides the deadline: the config's, unless the caller chose the budget. */
  readonly #statementCapMs: number;
  readonly #deadline: number;
  /** Cancels statements and pool waits (async connections). */
  readonly signal: AbortSignal | undefined;

  constructor(conn: Connection | SyncConnection, options: { timeoutMs?: number; signal?: AbortSignal }) {
    this.#alias = conn.alias;
    const timeoutMs = options.timeoutMs ?? DEFAULT_OPERATION_TIMEOUT_MS;
    if (typeof timeoutMs !== 'number' || !(timeoutMs > 0)) {
      throw new ConfigError(`${conn.alias}: timeoutMs must be a positive number of milliseconds (Infinity for none), got ${String(timeoutMs)}`);
    }
    this.#timeoutMs = timeoutMs;
    this.#statementCapMs = options.timeoutMs === undefined ? conn.config.queryExecutionTimeoutMs : Number.POSITIVE_INFINITY;
    this.#deadline = performance.now() + timeoutMs;
    this.signal = options.signal;
  }

  /** Whole milliseconds left, at least 1 (a statement must get a positive timeout). */
  #remaining(): number {
    return Math.max(1, Math.ceil(this.#deadline - performance.now()));
  }

  get expired(): boolean {
    return performance.now() >= this.#deadline;
  }

  /** @throws {QueryTimeoutError} once the deadline has passed: no further step starts. */
  check(sql?: string): void {
    if (this.expired) throw this.timeoutError(sql);
  }

  /**
   * Options for the next statement: what is left of the budget (or the config's per-statement
   * timeout when that is shorter and the caller chose no budget), and the caller's signal.
   */
  statementOptions(): ExecuteOptions {
    const remaining = this.#remaining();
    const options: ExecuteOptions = { timeoutMs: Math.min(remaining, this.#statementCapMs) };
    if (this.signal !== undefined) options.signal = this.signal;
    return options;
  }

  /** True when a statement's timeout was the operation's deadline, not the per-statement one. */
  endsAtDeadline(statementTimeoutMs: number | undefined): boolean {
    return statementTimeoutMs !== undefined && statementTimeoutMs < this.#statementCapMs;
  }

  timeoutError(sql?: string, cause?: unknown): QueryTimeoutError {
    return new QueryTimeoutError(
      `${this.#alias}: entity operation timed out after ${this.#timeoutMs} ms; it was stopped and its changes rolled back`,
      this.#timeoutMs,
      sql,
      cause === undefined ? {} : { cause },
    );
  }

  /** A signal that aborts at the deadline or with the caller's signal, for a pool wait; `clear()` it after. */
  waitSignal(): { signal: AbortSignal; clear(): void } {
    const deadline = new AbortController();
    const remaining = this.#remaining();
    const timer = remaining <= MAX_TIMER_MS ? setTimeout(() => deadline.abort(this.timeoutError()), remaining) : undefined;
    // The timer holds the controller, so a garbage collection cannot lose it (unlike AbortSignal.timeout, nodejs/node#57736).
    const signal = this.signal === undefined ? deadline.signal : AbortSignal.any([this.signal, deadline.signal]);
    return { signal, clear: () => clearTimeout(timer) };
  }
}

/** Drive an operation on an async connection, within `budget`. */
export async function runAsync<T>(conn: Connection, op: Op<T>, budget: Budget): Promise<T> {
  let next = op.next();
  for (;;) {
    if (next.done === true) return next.value;
    let result: unknown;
    try {
      budget.check(next.value.kind === 'query' ? next.value.sql : undefined);
      result = await performAsync(conn, next.value, budget);
    } catch (error) {
      next = op.throw(error);
      continue;
    }
    next = op.next(result);
  }
}

async function performAsync(conn: Connection, step: Step, budget: Budget): Promise<unknown> {
  switch (step.kind) {
    case 'query': {
      const options = budget.statementOptions();
      try {
        return await conn.query(step.sql, step.params, options);
      } catch (error) {
        // Cancelled by the operation's deadline rather than by its own timeout: say so.
        if (DalError.isInstance(error) && error.code === 'DAL_QUERY_TIMEOUT' && budget.endsAtDeadline(options.timeoutMs)) throw budget.timeoutError(step.sql, error);
        throw error;
      }
    }
    case 'transaction':
      return conn.transaction(async (tx) => {
        const result = await runAsync(tx, step.body(), budget);
        // Past the deadline nothing is committed: the operation fails and rolls back as a whole.
        budget.check();
        return result;
      });
    case 'detached': {
      const wait = budget.waitSignal();
      let other: Connection;
      try {
        other = await conn.separateConnection({ signal: wait.signal });
      } catch (error) {
        // Aborted, but not by the caller's signal: by the deadline.
        throw wait.signal.aborted && budget.signal?.aborted !== true ? budget.timeoutError(undefined, error) : error;
      } finally {
        wait.clear();
      }
      try {
        return await runAsync(other, step.body(), budget);
      } finally {
        await other.release();
      }
    }
  }
}

/**
 * Drive an operation on a synchronous connection, within `budget`. A synchronous statement cannot
 * be interrupted from this thread, so the deadline is checked between statements and before the
 * commit: an operation that ran past it still fails and rolls back.
 */
export function runSync<T>(conn: SyncConnection, op: Op<T>, budget: Budget): T {
  let next = op.next();
  for (;;) {
    if (next.done === true) return next.value;
    let result: unknown;
    try {
      budget.check(next.value.kind === 'query' ? next.value.sql : undefined);
      result = performSync(conn, next.value, budget);
    } catch (error) {
      next = op.throw(error);
      continue;
    }
    next = op.next(result);
  }
}

function performSync(conn: SyncConnection, step: Step, budget: Budget): unknown {
  switch (step.kind) {
    case 'query':
      return conn.query(step.sql, step.params);
    case 'transaction':
      return conn.transaction((tx) => {
        const result = runSync(tx, step.body(), budget);
        budget.check();
        return result;
      });
    case 'detached':
      throw new EntityError(`${conn.alias}: this schema change needs a second connection, which a SyncConnection cannot open; run it on an async connection`);
  }
}
