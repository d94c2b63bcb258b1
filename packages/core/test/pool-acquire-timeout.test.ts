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

  it('each waiter times out at its own deadline, counted from when it started waiting', async () => {
    const { db } = testDatabase({ poolMax: 1, connectionAcquisitionTimeoutMs: 200 });
    const held = await db.connection();
    const started = performance.now();
    const waitedFor = (delayMs: number) =>
      new Promise<void>((resolve) => setTimeout(resolve, delayMs)).then(async () => {
        const { error } = await settle(db.connection());
        expect(error).toBeInstanceOf(PoolTimeoutError);
        return performance.now() - started;
      });
    // Enqueued at about 0, 80 and 160 ms: they give up at about 200, 280 and 360 ms.
    const [first, second, third] = await Promise.all([waitedFor(0), waitedFor(80), waitedFor(160)]);
    expect(first).toBeGreaterThanOrEqual(195);
    expect(second).toBeGreaterThanOrEqual(first! + 40);
    expect(second).toBeGreaterThanOrEqual(275);
    expect(third).toBeGreaterThanOrEqual(second! + 40);
    expect(third).toBeGreaterThanOrEqual(355);
    await held.release();
  });

  it('a waiter that leaves early (aborted) neither shortens nor extends the others\' wait', async () => {
    const { db } = testDatabase({ poolMax: 1, connectionAcquisitionTimeoutMs: 200 });
    const held = await db.connection();
    const controller = new AbortController();
    const started = performance.now();
    const aborted = settle(db.connection({ signal: controller.signal }));
    const waiting = settle(db.connection());
    setTimeout(() => controller.abort(), 20);
    expect((await aborted).error).toMatchObject({ code: 'DAL_ABORTED' });
    expect((await waiting).error).toBeInstanceOf(PoolTimeoutError);
    const waited = performance.now() - started;
    expect(waited).toBeGreaterThanOrEqual(195);
    expect(waited).toBeLessThan(5_000);
    await held.release();
  });
});
