import { afterEach, describe, expect, it } from 'vitest';
import { AbortedError } from '../src/index.js';
import { closeAllPools, settle, testDatabase } from './support/test-database.js';

// An AbortSignal ends a wait for a connection at once, and the place it held goes to the next caller.
describe('pool: aborted acquisition', () => {
  afterEach(closeAllPools);

  it('a signal aborted while waiting rejects with AbortedError and leaves the queue', async () => {
    const { db, status } = testDatabase({ poolMax: 1 });
    const held = await db.connection();
    const controller = new AbortController();
    const waiting = settle(db.connection({ signal: controller.signal }));
    await expect.poll(() => status().sizes.pending).toBe(1);
    controller.abort(new Error('user went away'));
    const { error } = await waiting;
    expect(error).toBeInstanceOf(AbortedError);
    expect(error).toMatchObject({ code: 'DAL_ABORTED' });
    expect(status().sizes).toMatchObject({ pending: 0, inUse: 1 });
    expect(status().metrics.acquireErrors).toBe(1);
    await held.release();
    expect(status().sizes).toMatchObject({ size: 1, idle: 1, inUse: 0 });
  });

  it('an already aborted signal fails at once without taking a connection', async () => {
    const { db, status, driver } = testDatabase();
    await db.execute('SELECT 1');
    const { error } = await settle(db.connection({ signal: AbortSignal.abort() }));
    expect(error).toBeInstanceOf(AbortedError);
    expect(status().sizes).toMatchObject({ inUse: 0, pending: 0 });
    const statements = driver.stats.statements;
    await expect(db.execute('SELECT 1', [], { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortedError);
    expect(driver.stats.statements).toBe(statements);
  });

  it('the connection an aborted waiter would have had goes to the caller behind it', async () => {
    const { db, status } = testDatabase({ poolMax: 1 });
    const held = await db.connection();
    const controller = new AbortController();
    const first = settle(db.connection({ signal: controller.signal }));
    const second = db.connection();
    await expect.poll(() => status().sizes.pending).toBe(2);
    controller.abort();
    expect((await first).error).toBeInstanceOf(AbortedError);
    await held.release();
    const conn = await second;
    await expect(conn.execute('SELECT 2')).resolves.toEqual([{ value: 2 }]);
    await conn.release();
    expect(status().sizes).toMatchObject({ size: 1, idle: 1, pending: 0 });
  });
});
