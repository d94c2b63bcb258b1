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

/** `nativeRowOn` on a connection of `runtime`'s pool, acquired within `signal` and released after. */
export async function nativeRow(runtime: PoolRuntime, sql: string, timeoutMs: number, signal?: AbortSignal): Promise<Record<string, unknown> | undefined> {
  const lease = await runtime.acquire(signal);
  try {
    return await nativeRowOn(runtime, lease, sql, [], timeoutMs);
  } finally {
    runtime.pool.release(lease);
  }
}
