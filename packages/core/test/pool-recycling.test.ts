import { afterEach, describe, expect, it } from 'vitest';
import { closeAllPools, sleep, testDatabase } from './support/test-database.js';

// Connections are replaced once older than maxLifetimeMs, and idle ones above poolMin are closed
// after idleTimeoutMs, by the pool's background sweep or when next handed out.
describe('pool: lifetime and idle recycling', () => {
  afterEach(closeAllPools);

  it('a connection past maxLifetimeMs is closed and replaced, never handed out again', async () => {
    const { db, driver } = testDatabase({ maxLifetimeMs: 150 });
    await db.execute('SELECT 1');
    expect(driver.connections).toHaveLength(1);
    await sleep(250);
    await db.execute('SELECT 2');
    const first = driver.connections[0]!;
    expect(first.statements).toEqual(['SELECT 1']);
    // On a newer connection (the background sweep may have replaced the first one already).
    expect(driver.connections.at(-1)!.statements).toEqual(['SELECT 2']);
    await expect.poll(() => first!.closed).toBe(true);
    expect(driver.stats.destroyed).toBe(0); // closed gracefully
  });

  it('a connection in use when it expires finishes its work and is closed when released', async () => {
    const { db, driver, status } = testDatabase({ maxLifetimeMs: 100 });
    const conn = await db.connection();
    await sleep(200);
    await expect(conn.execute('SELECT 1')).resolves.toEqual([{ value: 1 }]);
    expect(driver.connections[0]!.open).toBe(true);
    await conn.release();
    await expect.poll(() => driver.connections[0]!.closed).toBe(true);
    // The sweep keeps poolMin (1) open with a fresh connection.
    await expect.poll(() => status().sizes.size, { timeout: 5_000 }).toBe(1);
    expect(driver.openConnections).toBe(1);
  });

  it('idle connections above poolMin are closed after idleTimeoutMs; poolMin stay open', async () => {
    const { db, driver, status } = testDatabase({ poolMin: 1, poolMax: 4, idleTimeoutMs: 150 });
    const held = await Promise.all([db.connection(), db.connection(), db.connection()]);
    await Promise.all(held.map((c) => c.release()));
    expect(status().sizes).toMatchObject({ size: 3, idle: 3 });
    await expect.poll(() => status().sizes.size, { timeout: 5_000, interval: 50 }).toBe(1);
    expect(driver.openConnections).toBe(1);
    expect(driver.stats.closed).toBe(2);
    // And it stays at poolMin.
    await sleep(300);
    expect(status().sizes.size).toBe(1);
    await expect(db.execute('SELECT 1')).resolves.toEqual([{ value: 1 }]);
  });

  it('a connection in use is never closed for being idle', async () => {
    const { db, driver } = testDatabase({ poolMin: 0, poolMax: 2, idleTimeoutMs: 100 });
    const conn = await db.connection();
    await sleep(350);
    await expect(conn.execute('SELECT 1')).resolves.toEqual([{ value: 1 }]);
    expect(driver.connections[0]!.open).toBe(true);
    await conn.release();
  });
});
