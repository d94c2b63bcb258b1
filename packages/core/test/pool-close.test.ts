import { afterEach, describe, expect, it } from 'vitest';
import { PoolClosedError, PoolManager } from '../src/index.js';
import { closeAllPools, settle, testDatabase } from './support/test-database.js';

// Closing: waiters are rejected, idle connections closed, connections in use get until the
// timeout to come back and are destroyed after it.
describe('pool: closing with connections in use', () => {
  afterEach(closeAllPools);

  it('rejects waiters with PoolClosedError at once', async () => {
    const { db, driver } = testDatabase({ poolMax: 1 });
    const held = await db.connection();
    const waiter = settle(db.connection());
    const closing = db.close({ timeoutMs: 5_000 });
    expect((await waiter).error).toBeInstanceOf(PoolClosedError);
    await held.release();
    await closing;
    expect(driver.stats).toMatchObject({ closed: 1, destroyed: 0 });
    expect(driver.driverCloses).toBe(1);
  });

  it('closes idle connections at once, and the ones in use once they come back', async () => {
    const { db, driver } = testDatabase({ poolMax: 2 });
    const held = await db.connection();
    const idle = await db.connection();
    await idle.release();
    const closing = db.close({ timeoutMs: 5_000 });
    await expect.poll(() => driver.connections[1]!.closed).toBe(true);
    expect(driver.connections[0]!.open).toBe(true); // still in use
    await held.release();
    await closing;
    expect(driver.connections[0]!.closed).toBe(true);
    expect(driver.stats).toMatchObject({ closed: 2, destroyed: 0 });
  });

  it('waits for a connection in use to come back, up to the timeout', async () => {
    const { db, driver } = testDatabase();
    const held = await db.connection();
    let closed = false;
    const closing = db.close({ timeoutMs: 5_000 }).then(() => (closed = true));
    await new Promise((r) => setTimeout(r, 100));
    expect(closed).toBe(false);
    await held.release();
    await closing;
    expect(driver.stats.destroyed).toBe(0);
  });

  it('destroys connections still in use when the timeout passes, stopping their statements', async () => {
    const { db, driver } = testDatabase();
    const held = await db.connection();
    const running = settle(held.execute('HANG', [], { timeoutMs: 60_000 }));
    await expect.poll(() => driver.connections[0]!.running).toBe('HANG');
    const started = performance.now();
    await db.close({ timeoutMs: 150 });
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
    expect(driver.connections[0]!.destroyed).toBe(true);
    const { error } = await running;
    expect(error).toMatchObject({ code: 'DAL_CONNECTION' });
    await held.release(); // late release of a destroyed connection is harmless
  });

  it('after close, every call fails with PoolClosedError and no connection is opened', async () => {
    const { db, driver, config } = testDatabase();
    await db.execute('SELECT 1');
    await db.close();
    await db.close(); // twice is fine
    await expect(db.execute('SELECT 1')).rejects.toBeInstanceOf(PoolClosedError);
    await expect(db.connection()).rejects.toBeInstanceOf(PoolClosedError);
    expect(driver.stats.opened).toBe(1);
    expect(PoolManager.getPoolStatus(config.hash())).toBeUndefined();
  });

  it('a connection opening while the pool closes is not leaked', async () => {
    const { db, driver } = testDatabase({ poolMax: 2 });
    const held = await db.connection();
    driver.failConnect('hang');
    const waiting = settle(db.connection()); // starts opening a second connection, which hangs
    await expect.poll(() => driver.stats.connectAttempts).toBe(2);
    await held.release();
    driver.failConnect(false);
    await db.close({ timeoutMs: 200 });
    expect((await waiting).value).toBeDefined(); // it got the released connection, destroyed by close
    await (await waiting).value!.release();
    expect(driver.openConnections).toBe(0);
  });

  it('closing a Database while its pool is still being built closes that pool too', async () => {
    const { db, driver, config } = testDatabase();
    const call = settle(db.execute('SELECT 1'));
    await db.close();
    expect((await call).error).toBeInstanceOf(PoolClosedError);
    await expect.poll(() => driver.openConnections, { timeout: 1_000 }).toBe(0);
    expect(PoolManager.getPoolStatus(config.hash())).toBeUndefined();
  });
});
