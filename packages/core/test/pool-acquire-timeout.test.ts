import { afterEach, describe, expect, it } from 'vitest';
import { PoolTimeoutError } from '../src/index.js';
import { closeAllPools, settle, testDatabase } from './support/test-database.js';

// connectionAcquisitionTimeoutMs bounds the wait for a busy pool; a timed-out waiter takes no slot with it.
describe('pool: acquire timeout', () => {
  afterEach(closeAllPools);

  it('rejects with PoolTimeoutError after connectionAcquisitionTimeoutMs when every connection stays busy', async () => {
    const { db, status } = testDatabase({ poolMax: 1, connectionAcquisitionTimeoutMs: 150 });
    const held = await db.connection();
    const started = performance.now();
    const { error } = await settle(db.connection());
    const waited = performance.now() - started;
    expect(error).toBeInstanceOf(PoolTimeoutError);
    expect(error).toMatchObject({ code: 'DAL_POOL_TIMEOUT', poolSize: 1, retryable: true });
    expect((error as PoolTimeoutError).waitedMs).toBeGreaterThanOrEqual(140);
    expect(waited).toBeGreaterThanOrEqual(140);
    expect(waited).toBeLessThan(5_000);
    expect(status().metrics).toMatchObject({ acquisitionTimeouts: 1 });
    await held.release();
  });

  it('db.execute gets the same PoolTimeoutError, and the statement never reaches the server', async () => {
    const { db, driver } = testDatabase({ poolMax: 1, connectionAcquisitionTimeoutMs: 100 });
    const held = await db.connection();
    const before = driver.stats.statements;
    await expect(db.execute('SELECT 1')).rejects.toBeInstanceOf(PoolTimeoutError);
    expect(driver.stats.statements).toBe(before);
    await held.release();
  });

  it('loses no slot: after many timeouts the pool still hands out poolMax connections at once', async () => {
    const { db, driver, status } = testDatabase({ poolMax: 2, connectionAcquisitionTimeoutMs: 100 });
    const a = await db.connection();
    const b = await db.connection();
    const timedOut = await Promise.all(Array.from({ length: 5 }, () => settle(db.connection())));
    expect(timedOut.every((r) => r.error instanceof PoolTimeoutError)).toBe(true);
    expect(status().sizes).toMatchObject({ size: 2, inUse: 2, pending: 0, creating: 0 });
    await a.release();
    await b.release();
    const again = await Promise.all([db.connection(), db.connection()]);
    expect(status().sizes).toMatchObject({ size: 2, inUse: 2, pending: 0 });
    await Promise.all(again.map((c) => c.release()));
    expect(status().sizes).toMatchObject({ size: 2, idle: 2, inUse: 0 });
    expect(driver.stats.opened).toBe(2);
  });

  it('a waiter served before its deadline is not failed afterwards', async () => {
    const { db } = testDatabase({ poolMax: 1, connectionAcquisitionTimeoutMs: 300 });
    const held = await db.connection();
    const waiting = db.connection();
    setTimeout(() => void held.release(), 50);
    const conn = await waiting;
    // Past the original deadline, the connection still works and nothing rejects late.
    await new Promise((r) => setTimeout(r, 400));
    await expect(conn.execute('SELECT 1')).resolves.toEqual([{ value: 1 }]);
    await conn.release();
  });
});
