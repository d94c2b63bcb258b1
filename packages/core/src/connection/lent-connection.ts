import { performance } from 'node:perf_hooks';
import type { DriverExecuteOptions, DriverResult } from '../driver/driver.js';
import type { Lease } from '../pool/pool.js';
import type { PoolRuntime } from '../pool/pool-runtime.js';
import type { ReaderCache } from './reader-cache.js';
import type { StatementRunner } from './statement.js';

/**
 * `db.execute` / `query` / `executeFirst` on a pool whose connections run statements on this
 * thread (SQLite inline): the idle connection is lent for the one statement, which runs, is
 * recorded and is given back within one synchronous call, so nothing else can see it in use
 * (except a call made from inside the statement, e.g. by a parameter's `toJSON`, which finds it
 * checked out and waits as usual). Acquisition, statement and release cost two clock reads and
 * one metrics pass together. The same pipeline runs it as any other statement (statement.ts).
 */
export class LentConnection implements StatementRunner {
  readonly #runtime: PoolRuntime;
  readonly #lease: Lease;
  #held = true;

  private constructor(runtime: PoolRuntime, lease: Lease) {
    this.#runtime = runtime;
    this.#lease = lease;
  }

  /** The pool's idle connection, lent; undefined when none can be (see `Pool.lendIdle`). */
  static lend(runtime: PoolRuntime): LentConnection | undefined {
    const lease = runtime.pool.lendIdle();
    return lease === undefined ? undefined : new LentConnection(runtime, lease);
  }

  get readers(): ReaderCache | undefined {
    return this.#lease.readers;
  }

  runNow(nativeSql: string, params: readonly unknown[], options: DriverExecuteOptions): DriverResult<unknown> | undefined {
    return this.#lease.conn.executeNow!(nativeSql, params, options);
  }

  /** Never called: a statement that must wait is handed back (`WAITS`) and goes through a `Connection`. */
  run(): Promise<DriverResult<unknown>> {
    return Promise.reject(new Error('a lent connection only runs statements in place'));
  }

  inTransaction(): boolean {
    return false;
  }

  connectionFailed(): void {
    this.#runtime.pool.markSuspect(this.#lease);
  }

  giveBack(endedAt: number): void {
    if (!this.#held) return;
    this.#held = false;
    this.#runtime.pool.takeBack(this.#lease, endedAt);
  }

  /** Give the connection back when nothing ran on it (the checks or the translation failed). */
  giveBackUnused(): void {
    if (this.#held) this.giveBack(performance.now());
  }
}
