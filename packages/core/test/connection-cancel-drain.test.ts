import { afterEach, describe, expect, it } from 'vitest';
import { AbortedError, QueryTimeoutError } from '../src/index.js';
import { closeAllPools, settle, testDatabase } from './support/test-database.js';

// A statement past its timeout (or aborted) fails its caller at once and is cancelled on the
// server; its connection stays out of the pool until the statement really stopped, and is
// destroyed when it does not stop within the grace period (2 s).
describe('connection: cancel and drain', () => {
  afterEach(closeAllPools);

  it('a timed-out statement is cancelled on the server and the caller gets QueryTimeoutError', async () => {
    const { db, driver } = testDatabase();
    const started = performance.now();
    const { error } = await settle(db.execute('HANG', [], { timeoutMs: 100 }));
    expect(error).toBeInstanceOf(QueryTimeoutError);
    expect(error).toMatchObject({ code: 'DAL_QUERY_TIMEOUT', timeoutMs: 100, sql: 'HANG' });
    expect(performance.now() - started).toBeLessThan(5_000);
    await expect.poll(() => driver.events.some((e) => e.type === 'failed' && e.sql === 'HANG')).toBe(true);
    expect(driver.stats.cancels).toBe(1);
    // Cancelled in time: the connection is reused, not replaced.
    await expect(db.execute('SELECT 1')).resolves.toEqual([{ value: 1 }]);
    expect(driver.stats).toMatchObject({ opened: 1, destroyed: 0 });
    expect(driver.violations).toEqual([]);
  });

  it('an aborted signal cancels the running statement the same way', async () => {
    const { db, driver } = testDatabase();
    const controller = new AbortController();
    const running = settle(db.execute('HANG', [], { signal: controller.signal }));
    await expect.poll(() => driver.connections[0]?.running).toBe('HANG');
    controller.abort();
    expect((await running).error).toBeInstanceOf(AbortedError);
    expect(driver.stats.cancels).toBe(1);
  });

  it('the connection stays out of the pool until the cancelled statement stopped', async () => {
    const { db, driver, status } = testDatabase({ poolMax: 1 });
    driver.cancelLatencyMs = 300;
    const conn = await db.connection();
    await expect(conn.execute('HANG', [], { timeoutMs: 50 })).rejects.toBeInstanceOf(QueryTimeoutError);
    await conn.release(); // does not wait for the statement
    expect(status().sizes).toMatchObject({ inUse: 1, idle: 0 });
    const next = await db.execute('SELECT 2');
    expect(next).toEqual([{ value: 2 }]);
    const events = driver.events.filter((e) => e.connection === 1).map((e) => `${e.type} ${e.sql ?? ''}`.trim());
    // The next statement started only after HANG stopped, on the same connection.
    expect(events.indexOf('failed HANG')).toBeGreaterThan(-1);
    expect(events.indexOf('execute SELECT 2')).toBeGreaterThan(events.indexOf('failed HANG'));
    expect(driver.stats).toMatchObject({ opened: 1, destroyed: 0 });
    expect(driver.violations).toEqual([]);
  });

  it('the next statement on the same Connection waits for the cancelled one to stop', async () => {
    const { db, driver } = testDatabase();
    driver.cancelLatencyMs = 200;
    await db.withConnection(async (conn) => {
      await expect(conn.execute('HANG', [], { timeoutMs: 50 })).rejects.toBeInstanceOf(QueryTimeoutError);
      await expect(conn.execute('SELECT 3')).resolves.toEqual([{ value: 3 }]);
    });
    const sqls = driver.connections[0]!.statements;
    expect(sqls).toEqual(['HANG', 'SELECT 3']);
    expect(driver.violations).toEqual([]);
  });

  it('a statement that does not stop within the grace period has its connection destroyed', async () => {
    const { db, driver, status } = testDatabase({ poolMax: 1 });
    const conn = await db.connection();
    await expect(conn.execute('HANG NOCANCEL', [], { timeoutMs: 50 })).rejects.toBeInstanceOf(QueryTimeoutError);
    await conn.release();
    expect(driver.stats.cancels).toBe(1);
    // Still running after the cancel: the connection is neither reused nor closed yet.
    expect(driver.connections[0]!.running).toBe('HANG NOCANCEL');
    expect(status().sizes.inUse).toBe(1);
    // The grace period is 2 s; afterwards the connection is destroyed and a new one serves.
    await expect.poll(() => driver.stats.destroyed, { timeout: 10_000, interval: 100 }).toBe(1);
    await expect(db.execute('SELECT 1')).resolves.toEqual([{ value: 1 }]);
    expect(driver.connections[0]!.destroyed).toBe(true);
    expect(driver.connections.length).toBe(2);
    expect(status().sizes).toMatchObject({ size: 1, inUse: 0 });
    expect(driver.violations).toEqual([]);
  });

  it('without cancel support the connection is dropped once its statement ends, never reused', async () => {
    const { db, driver } = testDatabase({ poolMax: 1 }, { cancel: false });
    await expect(db.execute('SLEEP 200', [], { timeoutMs: 30 })).rejects.toBeInstanceOf(QueryTimeoutError);
    expect(driver.stats.cancels).toBe(0);
    await expect(db.execute('SELECT 1')).resolves.toEqual([{ value: 1 }]);
    const first = driver.connections[0]!;
    expect(first.statements).toEqual(['SLEEP 200']);
    expect(first.open).toBe(false);
    expect(driver.violations).toEqual([]);
  });

  it('a statement cancelled inside a transaction: release drops the connection instead of pooling it', async () => {
    const { db, driver } = testDatabase({ poolMax: 1 });
    driver.cancelLatencyMs = 100;
    const conn = await db.connection();
    await conn.beginTransaction();
    await expect(conn.execute('HANG', [], { timeoutMs: 30 })).rejects.toBeInstanceOf(QueryTimeoutError);
    await conn.release();
    await expect(db.execute('SELECT 1')).resolves.toEqual([{ value: 1 }]);
    expect(driver.connections.map((c) => c.statements)).toEqual([['BEGIN', 'HANG'], ['SELECT 1']]);
    expect(driver.connections[0]!.open).toBe(false);
  });
});
