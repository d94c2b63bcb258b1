import { afterEach, describe, expect, it } from 'vitest';
import { closeAllPools, sleep, testDatabase } from './support/test-database.js';

// poolMin connections are opened with the pool and kept open: a broken or expired one is replaced in the background.
describe('pool: poolMin kept warm', () => {
  afterEach(closeAllPools);

  it('the pool opens poolMin connections before the first statement runs', async () => {
    const { db, driver, status } = testDatabase({ poolMin: 3, poolMax: 5 });
    await db.execute('SELECT 1');
    expect(driver.stats.opened).toBe(3);
    expect(status().sizes).toMatchObject({ size: 3, idle: 3, min: 3 });
  });

  it('with the default poolMin (1), exactly one connection is opened up front', async () => {
    const { db, driver } = testDatabase();
    await db.execute('SELECT 1');
    expect(driver.stats.opened).toBe(1);
  });

  it('idle connections that break are replaced in the background, back to poolMin', async () => {
    const { db, driver, status } = testDatabase({ poolMin: 2, poolMax: 4, idleTimeoutMs: 200 });
    await db.execute('SELECT 1');
    driver.breakAll();
    // The sweep runs every idleTimeoutMs / 4 here: broken ones go, fresh ones come, no caller needed.
    await expect.poll(() => driver.stats.opened, { timeout: 5_000, interval: 50 }).toBe(4);
    await expect.poll(() => status().sizes.size).toBe(2);
    expect(driver.openConnections).toBe(2);
    expect(driver.connections.slice(0, 2).every((c) => !c.open)).toBe(true);
  });

  it('a failure to open the replacement is retried by later sweeps, not given up', async () => {
    const { db, driver, status } = testDatabase({ poolMin: 1, idleTimeoutMs: 200, circuitBreaker: false });
    await db.execute('SELECT 1');
    driver.failConnect('refused');
    driver.breakAll();
    await expect.poll(() => driver.stats.connectAttempts, { timeout: 5_000, interval: 50 }).toBeGreaterThanOrEqual(3);
    expect(status().sizes.size).toBe(0);
    driver.failConnect(false);
    await expect.poll(() => status().sizes.size, { timeout: 5_000, interval: 50 }).toBe(1);
    await sleep(100);
    expect(driver.openConnections).toBe(1);
  });
});
