import type { DriverConnection, ReplicationSql } from '../driver/driver.js';
import { ConnectionError } from '../errors/errors.js';
import type { PoolRuntime } from '../pool/pool-runtime.js';
import type { Lease } from '../pool/pool.js';

/**
 * The first row of a dialect's own native SQL (replication state, positions) on `lease`, outside
 * the statement pipeline: it is not the caller's SQL, so it is neither translated nor counted in
 * the pool's statement metrics. A connection that broke is not handed out again.
 */
export async function nativeRowOn(runtime: PoolRuntime, lease: Lease, sql: string, params: readonly unknown[], timeoutMs: number): Promise<Record<string, unknown> | undefined> {
  try {
    return (await lease.conn.execute<Record<string, unknown>>(sql, params, { rowMode: 'object', timeoutMs })).rows[0];
  } catch (error) {
    const mapped = runtime.mapError(error, sql);
    if (mapped instanceof ConnectionError) runtime.pool.discardOnRelease(lease);
    throw mapped;
  }
}

/** The dialect's replication SQL in the flavour of the server `conn` is on (see `ReplicationSql.forServer`). */
export async function replicationOn(replication: ReplicationSql, conn: DriverConnection): Promise<ReplicationSql> {
  return replication.forServer === undefined ? replication : replication.forServer(await conn.serverVersion());
}

/**
 * `nativeRowOn` with the statement `pick` takes from the replication SQL of the server it runs
 * on, on a connection of `runtime`'s pool acquired within `signal` and released after.
 */
export async function replicationRow(
  runtime: PoolRuntime,
  replication: ReplicationSql,
  pick: (sql: ReplicationSql) => string,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<Record<string, unknown> | undefined> {
  const lease = await runtime.acquire(signal);
  try {
    return await nativeRowOn(runtime, lease, pick(await replicationOn(replication, lease.conn)), [], timeoutMs);
  } finally {
    runtime.pool.release(lease);
  }
}
