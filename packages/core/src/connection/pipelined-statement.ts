import type { DriverExecuteOptions, DriverResult } from '../driver/driver.js';
import { ConnectionError, PoolClosedError, PoolTimeoutError } from '../errors/errors.js';
import type { Lease } from '../pool/pool.js';
import type { PoolRuntime } from '../pool/pool-runtime.js';
import type { StatementRunner } from './statement.js';
import { withinLimits } from './within-limits.js';

/**
 * `db.execute` / `query` / `executeFirst` on a pool whose driver pipelines (PostgreSQL): the
 * statement is sent on a shared connection behind others in flight (`Pool.share` picks it) and
 * goes through the same pipeline as any other (statement.ts), so its timeout, signal, metrics,
 * slow log and events are its own. A timeout or abort cancels this statement only
 * (`PipelinedStatement.cancel`); a connection whose cancel could not be delivered is destroyed,
 * failing the statements in flight on it with `ConnectionError`, never running them again.
 */
export class SharedConnection implements StatementRunner {
  readonly readers = undefined;
  readonly giveBack = undefined;
  readonly #runtime: PoolRuntime;
  /** The connection `share` counted this statement on, until `run` sends it. */
  #reserved: Lease | undefined;
  /** The connection the statement was last sent on. */
  #lease: Lease;

  private constructor(runtime: PoolRuntime, lease: Lease) {
    this.#runtime = runtime;
    this.#reserved = lease;
    this.#lease = lease;
  }

  /** A shared connection for one statement, or undefined when it should take one of its own (see `Pool.share`). */
  static share(runtime: PoolRuntime): SharedConnection | undefined {
    const lease = runtime.pool.share(runtime.config.slowQueryThresholdMs);
    return lease === undefined ? undefined : new SharedConnection(runtime, lease);
  }

  runNow(): null {
    return null;
  }

  /**
   * Send the statement and wait for its answer within its timeout and signal. A second call (a
   * statement invalidated by DDL elsewhere runs once more) shares a connection anew.
   */
  run(nativeSql: string, params: readonly unknown[], options: DriverExecuteOptions, signal: AbortSignal | undefined): Promise<DriverResult<unknown>> {
    const { pool, config } = this.#runtime;
    const lease = this.#reserved ?? pool.share(config.slowQueryThresholdMs, true);
    this.#reserved = undefined;
    if (lease === undefined) {
      return Promise.reject(new PoolTimeoutError(`${config.alias}: no connection free to run the statement again`, 0, pool.sizes().size));
    }
    this.#lease = lease;
    let statement;
    try {
      statement = lease.conn.pipeline!(nativeSql, params, options);
    } catch (error) {
      pool.endShared(lease);
      return Promise.reject(error);
    }
    // In flight until the driver settles it, even when the caller gave up on it earlier.
    const result = statement.result.then(
      (answer) => {
        pool.endShared(lease);
        return answer;
      },
      (error: unknown) => {
        pool.endShared(lease);
        throw this.#closedOr(error, nativeSql);
      },
    );
    return withinLimits(result, options.timeoutMs, signal, config.alias, nativeSql, () => {
      statement.cancel().catch(() => {
        pool.discardOnRelease(lease);
        lease.conn.destroy();
      });
    });
  }

  /** Closing the pool cut the connection: say so rather than report a network failure. */
  #closedOr(error: unknown, nativeSql: string): unknown {
    const runtime = this.#runtime;
    if (!runtime.pool.closed) return error;
    const mapped = runtime.mapError(error, nativeSql);
    if (!(mapped instanceof ConnectionError)) return mapped;
    return new PoolClosedError(`${runtime.config.alias}: the pool was closed while the statement was in flight`, { cause: mapped });
  }

  /** Give back a connection the statement was never sent on (it failed its checks or translation). */
  abandon(): void {
    const reserved = this.#reserved;
    this.#reserved = undefined;
    if (reserved !== undefined) this.#runtime.pool.endShared(reserved);
  }

  inTransaction(): boolean {
    return false;
  }

  /** Its connection failed: nothing more is sent on it, and it is closed once the statements in flight settled. */
  connectionFailed(): void {
    const { pool } = this.#runtime;
    pool.markSuspect(this.#lease); // the idle connections are pinged before their next use
    pool.discardOnRelease(this.#lease);
  }
}
