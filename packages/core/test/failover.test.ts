import { afterEach, describe, expect, it } from 'vitest';
import { ConnectionError } from '../src/index.js';
import { closeAllPools, settle, testDatabase } from './support/test-database.js';

// With several `hosts`, new connections go to the first one that can be reached; a session that
// dies says nothing about its host; the first host is probed in the background and taken back.
describe('pool: failover and failback across hosts', () => {
  afterEach(closeAllPools);

  it('opens connections on the next host when the first refuses, and reports it as the current server', async () => {
    const { db, driver, status } = testDatabase({ hosts: ['primary:5432', 'standby:5432'] });
    driver.failConnect('refused', { host: 'primary' });
    await expect(db.execute('SELECT 1')).resolves.toEqual([{ value: 1 }]);
    expect(driver.connections.map((c) => c.host)).toEqual(['standby']);
    expect(status().server).toEqual({ host: 'standby', port: 5432 });
    expect(status().circuit!.state).toBe('closed');
  });

  it('a host that does not answer at all is left after its share of connectionCreationTimeoutMs', async () => {
    const { db, driver, status } = testDatabase({ hosts: ['primary', 'standby'], connectionCreationTimeoutMs: 1_000 });
    driver.failConnect('hang', { host: 'primary' });
    const started = performance.now();
    await expect(db.execute('SELECT 1')).resolves.toEqual([{ value: 1 }]);
    // Half of the creation timeout per host (500 ms) on the silent one, then the standby answers.
    expect(performance.now() - started).toBeGreaterThanOrEqual(450);
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(status().server.host).toBe('standby');
  });

  it('fails back to the first host once its background probe answers; callers never wait on it', async () => {
    const { db, driver, status } = testDatabase({ hosts: ['primary', 'standby'], failbackAfterMs: 150 });
    driver.failConnect('refused', { host: 'primary' });
    await db.execute('SELECT 1');
    expect(status().server.host).toBe('standby');
    // Still down at the first probes: nothing changes.
    await new Promise((r) => setTimeout(r, 400));
    expect(status().server.host).toBe('standby');
    driver.failConnect(false, { host: 'primary' });
    await expect.poll(() => status().server.host, { timeout: 5_000, interval: 25 }).toBe('primary');
    // New connections go to the primary; the standby one keeps serving until it is recycled.
    const held = await Promise.all([db.connection(), db.connection()]);
    expect(driver.connections.filter((c) => c.open).map((c) => c.host).sort()).toEqual(['primary', 'standby']);
    await Promise.all(held.map((c) => c.release()));
  });

  it('a session that dies in use does not move new connections to another host', async () => {
    const { db, driver, status } = testDatabase({ hosts: ['primary', 'standby'] });
    await db.execute('SELECT 1');
    for (let i = 0; i < 3; i++) expect((await settle(db.execute('BREAK'))).error).toBeInstanceOf(ConnectionError);
    await db.execute('SELECT 1');
    expect(new Set(driver.connections.map((c) => c.host))).toEqual(new Set(['primary']));
    expect(status().server.host).toBe('primary');
  });

  it('wrong credentials on the first host are not a reason to try the next one', async () => {
    const { db, driver } = testDatabase({ hosts: ['primary', 'standby'] });
    driver.failConnect('auth', { host: 'primary' });
    const { error } = await settle(db.execute('SELECT 1'));
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error).toMatchObject({ retryable: false });
    expect(driver.connections).toEqual([]);
    expect(driver.events.filter((e) => e.type === 'connect-failed').every((e) => e.host === 'primary')).toBe(true);
  });
});
